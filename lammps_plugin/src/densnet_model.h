/* The exported TorchScript model behind an opaque class: this header is torch-free, only
   densnet_model.cpp includes libtorch. Inputs/outputs follow export/README.md ("Forward"). */
#ifndef DENSNET_MODEL_H
#define DENSNET_MODEL_H

#include "densnet_metadata.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace densnet {

// Borrowed views of the graph handed to the model (double precision; converted to the model dtype).
struct ModelInput {
  int64_t n_atoms = 0;                   // N, local + ghost atoms given to the model
  int64_t n_local = 0;                   // atoms 0..n_local-1 are local
  int64_t n_edges = 0;                   // E
  const double *positions = nullptr;     // [N*3], Angstrom
  const int64_t *types = nullptr;        // [N], model type index
  const int64_t *edge_index = nullptr;   // [2*E]: E centres, then E neighbours
  const double *edge_shift = nullptr;    // [E*3], Angstrom
};

// Model outputs converted to double on the host.
struct ModelOutput {
  double energy = 0.0;                 // eV, local atoms only
  std::vector<double> atom_energy;     // [N], eV
  std::vector<double> forces;          // [N*3], eV/A
  std::vector<double> virial;          // [9], row-major 3x3, eV
  std::vector<double> charges;         // [N], e
  std::vector<double> dipoles;         // [N*3], e*A
};

class Model {
 public:
  // Load `path` on `device` ("cpu" or "cuda"; with cuda, GPU number local_rank % number of visible GPUs,
  // so that the ranks of a node spread over its GPUs). Throws std::runtime_error with a readable sentence
  // (naming the file) for missing, corrupt, foreign or incompatible files; never lets c10 errors out.
  Model(const std::string &path, const std::string &device, int local_rank = 0);
  ~Model();
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;

  const ModelMetadata &metadata() const;
  const std::string &path() const;
  std::string device_name() const;    // e.g. "cpu", "cuda:1"

  // Run forward(); throws std::runtime_error on failure.
  void compute(const ModelInput &in, ModelOutput &out);

  // ---- halo mode (export/README.md, "Halo mode"): the model stage by stage, the caller exchanging the
  // node states of ghost atoms between stages (LAMMPS forward/reverse communication). S = number of stages
  // = halo_widths().size() - 1; state k is the input of stage k. Call in this order per evaluation:
  // halo_begin, then for k = 0..S-1 halo_forward + halo_set_state(k+1), halo_readout, then for
  // k = S-1..0 halo_backward, then halo_finish.
  bool has_halo() const;
  const std::vector<int64_t> &halo_widths() const;    // widths of states 0..S (values per atom)
  // Edge features and state 0 of all model atoms; edges must be centred on local atoms only.
  void halo_begin(const ModelInput &in);
  // Stage k on state k: state k+1 of the local atoms [n_local * widths[k+1]] into `state_local`; the
  // density-head stage also fills out.charges [n_local] and out.dipoles [3 * n_local].
  void halo_forward(int k, std::vector<double> &state_local, ModelOutput &out);
  // State k (1..S) of all model atoms [n_atoms * widths[k]], ghost rows as communicated.
  void halo_set_state(int k, const std::vector<double> &state_all);
  // Readout on state S: out.energy (local atoms), out.atom_energy [n_local]; grad_local = dE/d state S
  // of the local atoms [n_local * widths[S]].
  void halo_readout(ModelOutput &out, std::vector<double> &grad_local);
  // Backward of stage k given dE/d state k+1 of the local atoms (all contributions summed); for k > 0
  // grad_all = dE/d state k of all model atoms [n_atoms * widths[k]] (ghost rows: to be added to owners).
  void halo_backward(int k, const std::vector<double> &grad_local, std::vector<double> &grad_all);
  // out.forces [n_atoms * 3] (ghost rows: to be added to owners) and out.virial; ends the evaluation.
  void halo_finish(ModelOutput &out);
  // Keep no autograd graph in the forward stages and re-run each stage in its backward: about the memory of
  // one stage instead of all of them, for one more forward pass of compute.
  void set_halo_recompute(bool on);

  // Intra-op threads of libtorch for this process (one MPI rank); inter-op threads set to 1 once.
  static void set_num_threads(int n);

  // TorchScript graph-executor optimisation (process-wide). On: the first ~3 calls profile and fuse
  // (several seconds for an e3nn model) and shape changes (edge count) can re-trigger it; measured no
  // faster in MD on CPU, so pair_style densnet leaves it off unless 'optimize yes'.
  static void set_jit_optimize(bool on);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}    // namespace densnet

#endif

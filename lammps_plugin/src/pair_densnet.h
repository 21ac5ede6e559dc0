/* pair_style densnet: the exported densnet TorchScript model as a LAMMPS many-body pair style.
   Torch-free header: the model lives behind densnet::Model (densnet_model.h). */
#ifndef DENSNET_PAIR_DENSNET_H
#define DENSNET_PAIR_DENSNET_H

#include "pair.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace densnet {
class Model;
class NeighborGraph;
struct ModelOutput;
}    // namespace densnet

namespace LAMMPS_NS {

class PairDensnet : public Pair {
 public:
  explicit PairDensnet(class LAMMPS *);
  ~PairDensnet() override;

  void compute(int eflag, int vflag) override;
  void settings(int narg, char **arg) override;
  void coeff(int narg, char **arg) override;
  void init_style() override;
  double init_one(int i, int j) override;
  double memory_usage() override;

  // Halo mode: node states of one stage (comm_width_ values per atom, rows of halo_buf_ by LAMMPS index)
  int pack_forward_comm(int n, int *list, double *buf, int pbc_flag, int *pbc) override;
  void unpack_forward_comm(int n, int first, double *buf) override;
  int pack_reverse_comm(int n, int first, double *buf) override;
  void unpack_reverse_comm(int n, int *list, double *buf) override;

  // Per-atom results of the last evaluation, for compute densnet/atom. Indexed by local atom
  // index as of timestep last_step(); charges in e, dipoles [3*nlocal] in e*A.
  const std::vector<double> &local_charges() const { return charges_; }
  const std::vector<double> &local_dipoles() const { return dipoles_; }
  bigint last_step() const { return last_step_; }
  bool evaluated() const { return evaluated_; }

 private:
  enum class Mode { Auto, Ghost, Shift, Halo };

  std::string device_ = "cpu";
  Mode mode_ = Mode::Auto;
  Mode resolved_ = Mode::Shift;    // mode of the current run (never Auto)
  int threads_ = 1;
  double min_distance_ = 0.5;    // Angstrom: closer atoms stop the run (0: no check)
  bool recompute_ = false;       // halo mode: re-run each stage in the backward pass (less memory)
  bool keep_memory_ = true;      // glibc keeps freed host memory for the next step (no re-faulting)
  bool optimize_ = false;    // TorchScript graph-executor optimisation (profiling + fusion)
  double cutoff_ = 0.0;       // model cutoff (Angstrom)
  int receptive_field_ = 1;
  double cutghost_set_ = 0.0;    // ghost cutoff this style asked Comm for (0: none)

  std::unique_ptr<densnet::Model> model_;
  std::unique_ptr<densnet::NeighborGraph> graph_;
  std::unique_ptr<densnet::ModelOutput> out_;
  std::vector<int64_t> type_map_;    // LAMMPS type (1..ntypes) -> model type index

  std::vector<double> charges_, dipoles_;
  std::vector<double> halo_buf_;          // [nmax * max width], rows by LAMMPS atom index
  int comm_width_ = 0;                    // values per atom of the stage being communicated
  std::vector<double> state_local_, state_all_, grad_local_, grad_all_;

  void compute_halo();
  int local_rank() const;
  void clear_output();
  void check_min_distance();    // zero energy/virial, no per-atom values (a rank without local atoms)
  void halo_rows_to_model(int width, std::vector<double> &dst);    // halo_buf_ rows -> model atoms
  bigint last_step_ = -1;
  bool evaluated_ = false;

  void allocate();
};

}    // namespace LAMMPS_NS

#endif

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

  // Per-atom results of the last evaluation, for compute densnet/atom. Indexed by local atom
  // index as of timestep last_step(); charges in e, dipoles [3*nlocal] in e*A.
  const std::vector<double> &local_charges() const { return charges_; }
  const std::vector<double> &local_dipoles() const { return dipoles_; }
  bigint last_step() const { return last_step_; }
  bool evaluated() const { return evaluated_; }

 private:
  enum class Mode { Auto, Ghost, Shift };

  std::string device_ = "cpu";
  Mode mode_ = Mode::Auto;
  bool use_shift_ = false;    // resolved mode for the current run
  int threads_ = 1;
  bool optimize_ = false;    // TorchScript graph-executor optimisation (profiling + fusion)
  double cutoff_ = 0.0;       // model cutoff (Angstrom)
  int receptive_field_ = 1;
  double cutghost_set_ = 0.0;    // ghost cutoff this style asked Comm for (0: none)

  std::unique_ptr<densnet::Model> model_;
  std::unique_ptr<densnet::NeighborGraph> graph_;
  std::unique_ptr<densnet::ModelOutput> out_;
  std::vector<int64_t> type_map_;    // LAMMPS type (1..ntypes) -> model type index

  std::vector<double> charges_, dipoles_;
  bigint last_step_ = -1;
  bool evaluated_ = false;

  void allocate();
};

}    // namespace LAMMPS_NS

#endif

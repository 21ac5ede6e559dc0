/* compute ID group densnet/atom
   per-atom array (4 columns): charge q (e), atomic dipole px py pz (e*A) of the last densnet evaluation
   global vector (4): total dipole mu_x mu_y mu_z (e*A) = sum over the group of q*x_unwrapped + p,
                      and the group's total charge (e). */
#ifndef DENSNET_COMPUTE_DENSNET_ATOM_H
#define DENSNET_COMPUTE_DENSNET_ATOM_H

#include "compute.h"

namespace LAMMPS_NS {

class PairDensnet;

class ComputeDensnetAtom : public Compute {
 public:
  ComputeDensnetAtom(class LAMMPS *, int, char **);
  ~ComputeDensnetAtom() override;
  void init() override;
  void compute_peratom() override;
  void compute_vector() override;
  double memory_usage() override;

 private:
  PairDensnet *pair_ = nullptr;
  int nmax_ = 0;
  double **values_ = nullptr;    // [nmax][4]
  void check_fresh(const char *what);
};

}    // namespace LAMMPS_NS

#endif

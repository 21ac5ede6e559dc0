#include "compute_densnet_atom.h"

#include "pair_densnet.h"

#include "atom.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "update.h"

#include <mpi.h>

using namespace LAMMPS_NS;

ComputeDensnetAtom::ComputeDensnetAtom(LAMMPS *lmp, int narg, char **arg) : Compute(lmp, narg, arg)
{
  if (narg != 3) error->all(FLERR, "Illegal compute densnet/atom command: use 'compute ID group densnet/atom'");
  peratom_flag = 1;
  size_peratom_cols = 4;
  vector_flag = 1;
  size_vector = 4;
  extvector = 0;
  vector = new double[size_vector]();
}

ComputeDensnetAtom::~ComputeDensnetAtom()
{
  memory->destroy(values_);
  delete[] vector;
}

void ComputeDensnetAtom::init()
{
  pair_ = dynamic_cast<PairDensnet *>(force->pair_match("densnet", 1, 0));
  if (pair_ == nullptr)
    error->all(FLERR, "compute densnet/atom needs pair_style densnet (alone or in pair_style hybrid)");
}

void ComputeDensnetAtom::check_fresh(const char *what)
{
  if (!pair_->evaluated() || pair_->last_step() != update->ntimestep)
    error->all(FLERR,
               "compute densnet/atom: the {} was requested on timestep {}, but pair densnet was "
               "last evaluated on timestep {}; invoke it only on steps where forces are computed",
               what, update->ntimestep, pair_->last_step());
  if (pair_->local_charges().size() != static_cast<size_t>(atom->nlocal))
    error->one(FLERR, "compute densnet/atom: atom count changed since the last pair evaluation");
}

void ComputeDensnetAtom::compute_peratom()
{
  invoked_peratom = update->ntimestep;
  check_fresh("per-atom array");
  if (atom->nmax > nmax_) {
    memory->destroy(values_);
    nmax_ = atom->nmax;
    memory->create(values_, nmax_, 4, "densnet/atom:values");
    array_atom = values_;
  }
  const int nlocal = atom->nlocal;
  const int *mask = atom->mask;
  const auto &q = pair_->local_charges();
  const auto &p = pair_->local_dipoles();
  for (int i = 0; i < nlocal; ++i) {
    if (mask[i] & groupbit) {
      values_[i][0] = q[i];
      values_[i][1] = p[3 * i + 0];
      values_[i][2] = p[3 * i + 1];
      values_[i][3] = p[3 * i + 2];
    } else {
      values_[i][0] = values_[i][1] = values_[i][2] = values_[i][3] = 0.0;
    }
  }
}

void ComputeDensnetAtom::compute_vector()
{
  invoked_vector = update->ntimestep;
  check_fresh("total dipole");
  const int nlocal = atom->nlocal;
  const int *mask = atom->mask;
  double **x = atom->x;
  const imageint *image = atom->image;
  const auto &q = pair_->local_charges();
  const auto &p = pair_->local_dipoles();
  double local[4] = {0.0, 0.0, 0.0, 0.0};
  for (int i = 0; i < nlocal; ++i) {
    if (!(mask[i] & groupbit)) continue;
    double xu[3];
    domain->unmap(x[i], image[i], xu);
    for (int d = 0; d < 3; ++d) local[d] += q[i] * xu[d] + p[3 * i + d];
    local[3] += q[i];
  }
  MPI_Allreduce(local, vector, 4, MPI_DOUBLE, MPI_SUM, world);
}

double ComputeDensnetAtom::memory_usage()
{
  return 4.0 * sizeof(double) * nmax_;
}

#include "neighbor_graph.h"

#include "atom.h"
#include "neigh_list.h"

#include <stdexcept>
#include <string>

using namespace LAMMPS_NS;

namespace densnet {

void NeighborGraph::build(const Atom *atom, const NeighList *list, GraphMode mode, double cutoff,
                          const std::vector<int64_t> &type_map)
{
  const int nlocal = atom->nlocal;
  const int nall = atom->nlocal + atom->nghost;
  double **x = atom->x;
  const int *type = atom->type;
  const double cutsq = cutoff * cutoff;

  n_local_ = nlocal;
  n_atoms_ = (mode == GraphMode::Ghost) ? nall : nlocal;
  positions_.resize(3 * n_atoms_);
  types_.resize(n_atoms_);
  for (int64_t k = 0; k < n_atoms_; ++k) {
    for (int d = 0; d < 3; ++d) positions_[3 * k + d] = x[k][d];
    types_[k] = type_map[type[k]];
  }

  if (mode == GraphMode::Shift) {
    owner_.clear();
    owner_.reserve(nlocal);
    for (int i = 0; i < nlocal; ++i) owner_[atom->tag[i]] = i;
  }

  centres_.clear();
  neighbours_.clear();
  edge_shift_.clear();
  const int ncentres = (mode == GraphMode::Ghost) ? list->inum + list->gnum : list->inum;
  for (int ii = 0; ii < ncentres; ++ii) {
    const int i = list->ilist[ii];
    const int *jlist = list->firstneigh[i];
    const int jnum = list->numneigh[i];
    for (int jj = 0; jj < jnum; ++jj) {
      const int j = jlist[jj] & NEIGHMASK;
      const double dx = x[j][0] - x[i][0];
      const double dy = x[j][1] - x[i][1];
      const double dz = x[j][2] - x[i][2];
      if (dx * dx + dy * dy + dz * dz >= cutsq) continue;
      int jmodel = j;
      double sx = 0.0, sy = 0.0, sz = 0.0;
      if (mode == GraphMode::Shift && j >= nlocal) {
        auto it = owner_.find(atom->tag[j]);
        if (it == owner_.end())
          throw std::runtime_error("ghost atom with ID " + std::to_string(atom->tag[j]) +
                                   " has no local owner; shift mode needs one MPI rank");
        jmodel = it->second;
        sx = x[j][0] - x[jmodel][0];
        sy = x[j][1] - x[jmodel][1];
        sz = x[j][2] - x[jmodel][2];
      }
      centres_.push_back(i);
      neighbours_.push_back(jmodel);
      edge_shift_.push_back(sx);
      edge_shift_.push_back(sy);
      edge_shift_.push_back(sz);
    }
  }
  edge_index_.resize(2 * centres_.size());
  std::copy(centres_.begin(), centres_.end(), edge_index_.begin());
  std::copy(neighbours_.begin(), neighbours_.end(), edge_index_.begin() + centres_.size());
}

ModelInput NeighborGraph::input() const
{
  ModelInput in;
  in.n_atoms = n_atoms_;
  in.n_local = n_local_;
  in.n_edges = n_edges();
  in.positions = positions_.data();
  in.types = types_.data();
  in.edge_index = edge_index_.data();
  in.edge_shift = edge_shift_.data();
  return in;
}

}    // namespace densnet

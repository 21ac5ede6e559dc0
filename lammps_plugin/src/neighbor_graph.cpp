#include "neighbor_graph.h"

#include "atom.h"
#include "neigh_list.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

using namespace LAMMPS_NS;

namespace densnet {

void NeighborGraph::build(const Atom *atom, const NeighList *list, GraphMode mode, double cutoff,
                          int receptive_field, const std::vector<int64_t> &type_map)
{
  const int nlocal = atom->nlocal;
  const int nall = atom->nlocal + atom->nghost;
  double **x = atom->x;
  const int *type = atom->type;
  const double cutsq = cutoff * cutoff;
  const bool ghost_mode = (mode == GraphMode::Ghost);

  auto dist2 = [&](int i, int j) {
    const double dx = x[j][0] - x[i][0];
    const double dy = x[j][1] - x[i][1];
    const double dz = x[j][2] - x[i][2];
    return dx * dx + dy * dy + dz * dz;
  };
  auto within = [&](int i, int j) { return dist2(i, j) < cutsq; };

  // Model atoms: all locals; in ghost mode also the ghosts within receptive_field hops.
  lammps_index_.resize(nlocal);
  for (int i = 0; i < nlocal; ++i) lammps_index_[i] = i;
  if (ghost_mode) {
    hop_.assign(nall, -1);
    model_index_.assign(nall, -1);
    frontier_.clear();
    for (int i = 0; i < nlocal; ++i) {
      hop_[i] = 0;
      model_index_[i] = i;
      frontier_.push_back(i);
    }
    for (int depth = 1; depth <= receptive_field && !frontier_.empty(); ++depth) {
      next_.clear();
      for (int i : frontier_) {
        const int *jlist = list->firstneigh[i];
        const int jnum = list->numneigh[i];
        for (int jj = 0; jj < jnum; ++jj) {
          const int j = jlist[jj] & NEIGHMASK;
          if (hop_[j] >= 0 || !within(i, j)) continue;
          hop_[j] = depth;
          model_index_[j] = static_cast<int>(lammps_index_.size());
          lammps_index_.push_back(j);
          next_.push_back(j);
        }
      }
      std::swap(frontier_, next_);
    }
  }
  n_local_ = nlocal;
  n_atoms_ = static_cast<int64_t>(lammps_index_.size());
  positions_.resize(3 * n_atoms_);
  types_.resize(n_atoms_);
  for (int64_t k = 0; k < n_atoms_; ++k) {
    const int i = lammps_index_[k];
    for (int d = 0; d < 3; ++d) positions_[3 * k + d] = x[i][d];
    types_[k] = type_map[type[i]];
  }

  if (!ghost_mode) {
    owner_.clear();
    owner_.reserve(nlocal);
    for (int i = 0; i < nlocal; ++i) owner_[atom->tag[i]] = i;
  }

  // Edges: messages into atoms whose features are still needed (hop < receptive_field).
  double min_rsq = std::numeric_limits<double>::infinity();
  min_i_ = min_j_ = -1;
  centres_.clear();
  neighbours_.clear();
  edge_shift_.clear();
  for (int64_t k = 0; k < n_atoms_; ++k) {
    const int i = lammps_index_[k];
    if (ghost_mode && hop_[i] >= receptive_field) continue;
    const int *jlist = list->firstneigh[i];
    const int jnum = list->numneigh[i];
    for (int jj = 0; jj < jnum; ++jj) {
      const int j = jlist[jj] & NEIGHMASK;
      const double rsq = dist2(i, j);
      if (rsq >= cutsq) continue;
      if (rsq < min_rsq) {
        min_rsq = rsq;
        min_i_ = i;
        min_j_ = j;
      }
      int64_t jmodel;
      double sx = 0.0, sy = 0.0, sz = 0.0;
      if (ghost_mode) {
        jmodel = model_index_[j];    // >= 0: j is within hop_[i] + 1 <= receptive_field hops
      } else if (j < nlocal) {
        jmodel = j;
      } else {
        auto it = owner_.find(atom->tag[j]);
        if (it == owner_.end())
          throw std::runtime_error("ghost atom with ID " + std::to_string(atom->tag[j]) +
                                   " has no local owner; shift mode needs one MPI rank");
        jmodel = it->second;
        sx = x[j][0] - x[jmodel][0];
        sy = x[j][1] - x[jmodel][1];
        sz = x[j][2] - x[jmodel][2];
      }
      centres_.push_back(k);
      neighbours_.push_back(jmodel);
      edge_shift_.push_back(sx);
      edge_shift_.push_back(sy);
      edge_shift_.push_back(sz);
    }
  }
  min_distance_ = std::sqrt(min_rsq);
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

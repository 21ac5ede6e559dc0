/* Translation of a LAMMPS full neighbour list into the model's graph (export/README.md):
   - ghost mode: local atoms and the ghost atoms within receptive_field hops of them (graph distance
     over edges shorter than the cutoff) are model atoms: locals first (model index = LAMMPS index),
     then the kept ghosts. Edges start at atoms within receptive_field - 1 hops (farther atoms only
     feed their embedding), edge_shift = 0. Exact under MPI domain decomposition when the ghost shell
     is receptive_field * cutoff (+ skin) thick.
   - shift mode: only local atoms are model atoms; an edge to a ghost is redirected to the ghost's
     owner and carries the periodic shift x[ghost] - x[owner]. Needs one rank owning all atoms. */
#ifndef DENSNET_NEIGHBOR_GRAPH_H
#define DENSNET_NEIGHBOR_GRAPH_H

#include "densnet_model.h"
#include "lmptype.h"

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace LAMMPS_NS {
class Atom;
class NeighList;
}    // namespace LAMMPS_NS

namespace densnet {

enum class GraphMode { Ghost, Shift };

class NeighborGraph {
 public:
  // Build the graph from `list` (a full list; with ghost-atom lists in ghost mode).
  // type_map[t] is the model type index of LAMMPS type t (1-based, entry 0 unused).
  // receptive_field: message-passing depth of the model (ghost mode prunes atoms beyond it).
  // Throws std::runtime_error when a ghost has no local owner in shift mode.
  void build(const LAMMPS_NS::Atom *atom, const LAMMPS_NS::NeighList *list, GraphMode mode,
             double cutoff, int receptive_field, const std::vector<int64_t> &type_map);

  // LAMMPS atom index of each model atom [N] (identity for the first n_local).
  const std::vector<int> &lammps_index() const { return lammps_index_; }

  // Views into this object's buffers; valid until the next build().
  ModelInput input() const;

  int64_t n_atoms() const { return n_atoms_; }
  int64_t n_local() const { return n_local_; }
  int64_t n_edges() const { return static_cast<int64_t>(edge_shift_.size() / 3); }

  // Shortest edge of the last build (Angstrom; infinity without edges) and its two LAMMPS atom indices.
  double min_distance() const { return min_distance_; }
  int min_pair_i() const { return min_i_; }
  int min_pair_j() const { return min_j_; }

 private:
  int64_t n_atoms_ = 0, n_local_ = 0;
  std::vector<double> positions_;     // [N*3]
  std::vector<int64_t> types_;        // [N]
  std::vector<int64_t> centres_, neighbours_;
  std::vector<int64_t> edge_index_;   // [2*E]
  std::vector<double> edge_shift_;    // [E*3]
  std::vector<int> lammps_index_;     // [N] model atom -> LAMMPS index
  std::vector<int> model_index_;      // [nall] LAMMPS index -> model atom or -1 (ghost mode)
  std::vector<int> hop_;              // [nall] hops from the nearest local atom, -1 if farther
  std::vector<int> frontier_, next_;
  std::unordered_map<LAMMPS_NS::tagint, int> owner_;    // shift mode: tag -> local index
  double min_distance_ = 0.0;
  int min_i_ = -1, min_j_ = -1;
};

}    // namespace densnet

#endif

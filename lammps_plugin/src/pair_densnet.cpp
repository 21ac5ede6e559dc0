#include "pair_densnet.h"

#include "densnet_model.h"
#include "neighbor_graph.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"

#include <algorithm>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <exception>
#include <stdexcept>

using namespace LAMMPS_NS;

namespace {
// 'memory keep': the C library keeps freed host memory for the next step. With glibc's defaults every tensor
// above the mmap threshold (32 MB at most) is a fresh mapping that is unmapped when freed, so each MD step
// page-faults (and the kernel zeroes) all of the model's large tensors again: two thirds of the wall time of
// 688 atoms on the development VM (benchmarks/lammps_memory.md, 'memory release'). No mmap for large blocks and
// no trimming of the heap makes later steps reuse the pages of the first one. Returns false where this is not
// glibc (the allocator is then left as it is). 'memory release' restores glibc's documented defaults.
bool keep_host_memory(bool keep)
{
#if defined(__GLIBC__)
  if (keep) {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, -1);
  } else {
    mallopt(M_MMAP_MAX, 65536);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
  }
  return true;
#else
  (void) keep;
  return false;
#endif
}
}    // namespace

PairDensnet::PairDensnet(LAMMPS *lmp) :
    Pair(lmp), graph_(std::make_unique<densnet::NeighborGraph>()),
    out_(std::make_unique<densnet::ModelOutput>())
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  // The model returns its own (edge-based) virial; f.r over ghosts would be wrong in shift mode.
  no_virial_fdotr_compute = 1;
  centroidstressflag = CENTROID_NOTAVAIL;
}

PairDensnet::~PairDensnet()
{
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

void PairDensnet::allocate()
{
  allocated = 1;
  const int n = atom->ntypes;
  memory->create(setflag, n + 1, n + 1, "pair:setflag");
  memory->create(cutsq, n + 1, n + 1, "pair:cutsq");
  for (int i = 0; i <= n; ++i)
    for (int j = 0; j <= n; ++j) setflag[i][j] = 0;
}

/* pair_style densnet [device cpu|cuda] [mode auto|halo|ghost|shift] [threads N] [optimize yes|no]
                      [min_distance D] [recompute yes|no] [memory keep|release] */
void PairDensnet::settings(int narg, char **arg)
{
  device_ = "cpu";
  mode_ = Mode::Auto;
  threads_ = 1;
  optimize_ = false;
  min_distance_ = 0.5;
  recompute_ = false;
  keep_memory_ = true;
  int iarg = 0;
  while (iarg < narg) {
    const std::string key = arg[iarg];
    if (iarg + 1 >= narg)
      error->all(FLERR, "pair_style densnet: keyword '{}' needs a value", key);
    const std::string val = arg[iarg + 1];
    if (key == "device") {
      if (val != "cpu" && val != "cuda")
        error->all(FLERR, "pair_style densnet: device must be cpu or cuda, not '{}'", val);
      device_ = val;
    } else if (key == "mode") {
      if (val == "auto")
        mode_ = Mode::Auto;
      else if (val == "ghost")
        mode_ = Mode::Ghost;
      else if (val == "shift")
        mode_ = Mode::Shift;
      else if (val == "halo")
        mode_ = Mode::Halo;
      else
        error->all(FLERR, "pair_style densnet: mode must be auto, halo, ghost or shift, not '{}'", val);
    } else if (key == "threads") {
      threads_ = utils::inumeric(FLERR, val, false, lmp);
      if (threads_ < 1) error->all(FLERR, "pair_style densnet: threads must be >= 1");
    } else if (key == "optimize") {
      optimize_ = utils::logical(FLERR, val, false, lmp) == 1;
    } else if (key == "recompute") {
      recompute_ = utils::logical(FLERR, val, false, lmp) == 1;
    } else if (key == "memory") {
      if (val != "keep" && val != "release")
        error->all(FLERR, "pair_style densnet: memory must be keep or release, not '{}'", val);
      keep_memory_ = val == "keep";
    } else if (key == "min_distance") {
      min_distance_ = utils::numeric(FLERR, val, false, lmp);
      if (min_distance_ < 0.0) error->all(FLERR, "pair_style densnet: min_distance must be >= 0");
    } else {
      error->all(FLERR,
                 "pair_style densnet: unknown keyword '{}' (expected device, mode, threads, optimize, "
                 "min_distance, recompute or memory)",
                 key);
    }
    iarg += 2;
  }
}

/* pair_coeff * * model.pt El1 El2 ... (one element symbol per LAMMPS atom type) */
void PairDensnet::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;
  if (narg < 3)
    error->all(FLERR, "pair_coeff for densnet: expected 'pair_coeff * * model.pt' followed by "
                      "one element symbol per atom type");
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff for densnet must start with '* *' (one model for all types)");
  if (narg - 3 != ntypes)
    error->all(FLERR,
               "pair_coeff for densnet: got {} element symbol(s) after the model file but the "
               "system has {} atom type(s); give one element symbol per atom type",
               narg - 3, ntypes);
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "pair densnet requires 'units metal' (eV, Angstrom, ps), but units are '{}'",
               update->unit_style);

  const std::string path = arg[2];
  try {
    model_ = std::make_unique<densnet::Model>(path, device_, local_rank());
  } catch (std::exception &e) {
    model_.reset();
    error->all(FLERR, "pair densnet: {}", e.what());
  }
  const auto &md = model_->metadata();

  type_map_.assign(ntypes + 1, -1);
  for (int t = 1; t <= ntypes; ++t) {
    const std::string sym = arg[2 + t];
    auto it = std::find(md.elements.begin(), md.elements.end(), sym);
    if (it == md.elements.end()) {
      const std::string known = utils::join_words(md.elements, " ");
      model_.reset();
      error->all(FLERR,
                 "pair_coeff for densnet: element '{}' (atom type {}) is not in model '{}', "
                 "which knows: {}",
                 sym, t, path, known);
    }
    type_map_[t] = static_cast<int64_t>(it - md.elements.begin());
  }
  cutoff_ = md.cutoff;
  receptive_field_ = md.receptive_field;
  for (int i = 1; i <= ntypes; ++i)
    for (int j = i; j <= ntypes; ++j) setflag[i][j] = 1;

  if (comm->me == 0)
    utils::logmesg(lmp,
                   "densnet: model {} (elements {}, cutoff {} A, receptive field {}, {}, "
                   "densnet {}, basis '{}', {})\n",
                   path, utils::join_words(md.elements, " "), md.cutoff, md.receptive_field,
                   md.dtype, md.densnet_version, md.basis, md.level_of_theory);
}

/* Rank of this process among the ranks on its node (MPI shared-memory communicator): selects the GPU. */
int PairDensnet::local_rank() const
{
  MPI_Comm node;
  MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, comm->me, MPI_INFO_NULL, &node);
  int rank = 0;
  MPI_Comm_rank(node, &rank);
  MPI_Comm_free(&node);
  return rank;
}

void PairDensnet::init_style()
{
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "pair densnet requires 'units metal' (eV, Angstrom, ps), but units are '{}'",
               update->unit_style);
  if (force->newton_pair == 0)
    error->all(FLERR, "pair densnet requires 'newton on' for pair interactions (forces on ghost "
                      "atoms are reverse-communicated), but newton pair is off");
  if (atom->tag_enable == 0) error->all(FLERR, "pair densnet requires atom IDs");
  if (!model_) error->all(FLERR, "pair densnet: pair_coeff * * model.pt ... was not given");

  if (mode_ == Mode::Shift && comm->nprocs > 1)
    error->all(FLERR,
               "pair densnet mode shift needs a single MPI rank owning the whole box "
               "({} ranks are running); use mode ghost or auto",
               comm->nprocs);
  if (mode_ == Mode::Halo && !model_->has_halo())
    error->all(FLERR,
               "pair densnet mode halo: model '{}' was exported without the halo-mode methods; "
               "re-export it with this densnet (densnet-export) or use mode ghost",
               model_->path());
  if (mode_ == Mode::Auto)
    resolved_ = comm->nprocs == 1 ? Mode::Shift : (model_->has_halo() ? Mode::Halo : Mode::Ghost);
  else
    resolved_ = mode_;

  int flags = NeighConst::REQ_FULL;
  if (resolved_ == Mode::Ghost) flags |= NeighConst::REQ_GHOST;
  neighbor->add_request(this, flags);

  // Halo mode exchanges one stage's node states per forward/reverse communication.
  comm_forward = comm_reverse = 0;
  if (resolved_ == Mode::Halo) {
    const auto &w = model_->halo_widths();
    comm_forward = comm_reverse = static_cast<int>(*std::max_element(w.begin(), w.end()));
  }

  // Ghost mode: message passing over receptive_field layers needs ghosts that deep (+ skin, since
  // atoms move up to skin/2 between reneighbourings). Undo an earlier bump of ours first.
  if (cutghost_set_ > 0.0 && comm->cutghostuser == cutghost_set_) comm->cutghostuser = 0.0;
  cutghost_set_ = 0.0;
  if (resolved_ == Mode::Ghost) {
    const double need = receptive_field_ * cutoff_ + neighbor->skin;
    if (comm->cutghostuser < need) {
      comm->cutghostuser = need;
      cutghost_set_ = need;
    }
  }
  if (recompute_ && resolved_ != Mode::Halo)
    error->all(FLERR, "pair densnet: recompute yes needs halo mode (mode halo, or auto on several ranks)");
  model_->set_halo_recompute(recompute_);
  densnet::Model::set_num_threads(threads_);
  densnet::Model::set_jit_optimize(optimize_);
  const bool applied = keep_host_memory(keep_memory_);
  if (comm->me == 0)
    utils::logmesg(lmp,
                   "densnet: {} mode, {} torch thread(s) per rank, device {} (rank 0), "
                   "TorchScript optimize {}, host memory {}\n",
                   resolved_ == Mode::Shift ? "shift" : (resolved_ == Mode::Halo ? "halo" : "ghost"),
                   threads_, model_->device_name(), optimize_ ? "yes" : "no",
                   applied ? (keep_memory_ ? "kept between steps" : "released (C library defaults)")
                           : "left to the C library (not glibc)");
}

double PairDensnet::init_one(int i, int j)
{
  if (setflag[i][j] == 0 && setflag[j][i] == 0)
    error->all(FLERR, "pair densnet: all pair coeffs are not set");
  return cutoff_;
}

void PairDensnet::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  if (vflag_atom)
    error->all(FLERR, "pair densnet does not provide per-atom virials (compute stress/atom etc.)");

  try {
    if (resolved_ == Mode::Halo) {
      compute_halo();
    } else {
      const auto mode = resolved_ == Mode::Shift ? densnet::GraphMode::Shift : densnet::GraphMode::Ghost;
      graph_->build(atom, list, mode, cutoff_, receptive_field_, type_map_);
      check_min_distance();
      if (graph_->n_local() > 0)
        model_->compute(graph_->input(), *out_);
      else
        clear_output();    // a rank without atoms (e.g. an empty region of the box)
    }
  } catch (std::exception &e) {
    error->one(FLERR, "pair densnet: {}", e.what());
  }

  const int nlocal = atom->nlocal;
  const int64_t n = graph_->n_atoms();
  double **f = atom->f;
  const auto &F = out_->forces;
  const auto &index = graph_->lammps_index();
  for (int64_t k = 0; k < n; ++k) {
    const int i = index[k];
    f[i][0] += F[3 * k + 0];
    f[i][1] += F[3 * k + 1];
    f[i][2] += F[3 * k + 2];
  }
  if (eflag_global) eng_vdwl += out_->energy;
  if (eflag_atom)
    for (int i = 0; i < nlocal; ++i) eatom[i] += out_->atom_energy[i];
  if (vflag_global) {
    const auto &W = out_->virial;    // row-major 3x3
    virial[0] += W[0];
    virial[1] += W[4];
    virial[2] += W[8];
    virial[3] += 0.5 * (W[1] + W[3]);
    virial[4] += 0.5 * (W[2] + W[6]);
    virial[5] += 0.5 * (W[5] + W[7]);
  }

  charges_.assign(out_->charges.begin(), out_->charges.begin() + nlocal);
  dipoles_.assign(out_->dipoles.begin(), out_->dipoles.begin() + 3 * nlocal);
  last_step_ = update->ntimestep;
  evaluated_ = true;
}

/* Halo mode: model atoms = locals + the ghosts within one cutoff of them (the ghost-mode graph with a
   receptive field of 1: edges centred on local atoms only). After every stage the new node states of the
   local atoms are sent to their ghost copies (forward communication); the backward pass goes stage by
   stage, adding the gradients of ghost rows to their owners (reverse communication). Same algorithm as
   python/densnet/deploy/halo.py. */
void PairDensnet::compute_halo()
{
  graph_->build(atom, list, densnet::GraphMode::Ghost, cutoff_, 1, type_map_);
  check_min_distance();
  const auto &w = model_->halo_widths();
  const int S = static_cast<int>(w.size()) - 1;
  const int nlocal = atom->nlocal, nall = atom->nlocal + atom->nghost;
  const int maxw = comm_forward;
  if (static_cast<int>(halo_buf_.size()) < atom->nmax * maxw) halo_buf_.resize(atom->nmax * maxw);

  // The communications are collective: a rank without local atoms takes part with nothing to send.
  const bool empty = nlocal == 0;
  if (empty) {
    clear_output();
    state_local_.clear();
    grad_local_.clear();
    grad_all_.clear();
  } else {
    model_->halo_begin(graph_->input());
  }
  for (int k = 0; k < S; ++k) {
    if (!empty) model_->halo_forward(k, state_local_, *out_);
    comm_width_ = static_cast<int>(w[k + 1]);
    std::copy(state_local_.begin(), state_local_.end(), halo_buf_.begin());    // rows 0..nlocal-1
    comm->forward_comm(this, comm_width_);
    if (empty) continue;
    halo_rows_to_model(comm_width_, state_all_);
    model_->halo_set_state(k + 1, state_all_);
  }
  if (!empty) model_->halo_readout(*out_, grad_local_);
  const auto &index = graph_->lammps_index();
  for (int k = S - 1; k >= 0; --k) {
    if (!empty) model_->halo_backward(k, grad_local_, grad_all_);
    if (k == 0) break;
    comm_width_ = static_cast<int>(w[k]);
    std::fill(halo_buf_.begin(), halo_buf_.begin() + static_cast<size_t>(nall) * comm_width_, 0.0);
    for (size_t m = 0; m < index.size(); ++m)
      std::copy(grad_all_.begin() + m * comm_width_, grad_all_.begin() + (m + 1) * comm_width_,
                halo_buf_.begin() + static_cast<size_t>(index[m]) * comm_width_);
    comm->reverse_comm(this, comm_width_);
    grad_local_.assign(halo_buf_.begin(), halo_buf_.begin() + static_cast<size_t>(nlocal) * comm_width_);
  }
  if (!empty) model_->halo_finish(*out_);
}

void PairDensnet::check_min_distance()
{
  if (graph_->min_distance() >= min_distance_) return;
  const tagint ti = atom->tag[graph_->min_pair_i()], tj = atom->tag[graph_->min_pair_j()];
  throw std::runtime_error(fmt::format(
      "atoms {} and {} are {:.3f} A apart at step {} (closer than min_distance {} A): outside anything the "
      "model was trained on (the MD has probably blown up: check the time step and the start structure; "
      "pair_style densnet min_distance 0 disables this check)",
      ti, tj, graph_->min_distance(), update->ntimestep, min_distance_));
}

void PairDensnet::clear_output()
{
  out_->energy = 0.0;
  out_->atom_energy.clear();
  out_->forces.clear();
  out_->virial.assign(9, 0.0);
  out_->charges.clear();
  out_->dipoles.clear();
}

void PairDensnet::halo_rows_to_model(int width, std::vector<double> &dst)
{
  const auto &index = graph_->lammps_index();
  dst.resize(index.size() * width);
  for (size_t m = 0; m < index.size(); ++m)
    std::copy(halo_buf_.begin() + static_cast<size_t>(index[m]) * width,
              halo_buf_.begin() + static_cast<size_t>(index[m] + 1) * width, dst.begin() + m * width);
}

int PairDensnet::pack_forward_comm(int n, int *list, double *buf, int /*pbc_flag*/, int * /*pbc*/)
{
  int m = 0;
  for (int i = 0; i < n; ++i) {
    const double *row = halo_buf_.data() + static_cast<size_t>(list[i]) * comm_width_;
    for (int c = 0; c < comm_width_; ++c) buf[m++] = row[c];
  }
  return m;
}

void PairDensnet::unpack_forward_comm(int n, int first, double *buf)
{
  std::copy(buf, buf + static_cast<size_t>(n) * comm_width_,
            halo_buf_.begin() + static_cast<size_t>(first) * comm_width_);
}

int PairDensnet::pack_reverse_comm(int n, int first, double *buf)
{
  const size_t count = static_cast<size_t>(n) * comm_width_;
  std::copy(halo_buf_.begin() + static_cast<size_t>(first) * comm_width_,
            halo_buf_.begin() + static_cast<size_t>(first) * comm_width_ + count, buf);
  return static_cast<int>(count);
}

void PairDensnet::unpack_reverse_comm(int n, int *list, double *buf)
{
  int m = 0;
  for (int i = 0; i < n; ++i) {
    double *row = halo_buf_.data() + static_cast<size_t>(list[i]) * comm_width_;
    for (int c = 0; c < comm_width_; ++c) row[c] += buf[m++];
  }
}

double PairDensnet::memory_usage()
{
  double bytes = Pair::memory_usage();
  bytes += 8.0 * (charges_.capacity() + dipoles_.capacity() + halo_buf_.capacity());
  bytes += 8.0 * (out_->forces.capacity() + out_->atom_energy.capacity() +
                  out_->charges.capacity() + out_->dipoles.capacity());
  return bytes;
}

/* The only translation unit of the plugin that includes libtorch. */
#include "densnet_model.h"

#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/jit/python/update_graph_executor_opt.h>
#include <ATen/Parallel.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace densnet {

namespace {

// First line of a c10 error message (the rest is a C++ backtrace nobody asked for).
std::string first_line(const std::string &msg)
{
  auto pos = msg.find('\n');
  return pos == std::string::npos ? msg : msg.substr(0, pos);
}

torch::Tensor to_host_double(const torch::Tensor &t)
{
  return t.detach().to(torch::kCPU, torch::kDouble).contiguous();
}

void copy_out(const torch::Tensor &t, std::vector<double> &dst, int64_t expected, const char *key)
{
  auto h = to_host_double(t);
  if (h.numel() != expected)
    throw std::runtime_error(std::string("model output \"") + key + "\" has " +
                             std::to_string(h.numel()) + " values, expected " +
                             std::to_string(expected));
  dst.assign(h.data_ptr<double>(), h.data_ptr<double>() + expected);
}

}    // namespace

struct Model::Impl {
  std::string path;
  ModelMetadata metadata;
  torch::jit::script::Module module;
  torch::Device device{torch::kCPU};
  torch::Dtype dtype = torch::kDouble;

  // halo mode
  bool has_halo = false;
  std::vector<int64_t> widths;
  int64_t n_atoms = 0, n_local = 0;
  torch::Tensor types, edge_index, vec;
  std::vector<torch::Tensor> edge;         // sh, radial, envelope (functions of vec)
  std::vector<torch::Tensor> edge_grad;    // accumulated dE/d edge features
  std::vector<torch::Tensor> state;        // state k of all model atoms (leaves for k >= 1)
  std::vector<torch::Tensor> out;          // output of stage k (local atoms)
  torch::Tensor last;                      // leaf: state S of the local atoms (readout input)
  bool recompute = false;                  // forward without graphs, each stage re-run in its backward

  torch::Tensor stage(int k, std::vector<torch::Tensor> *aux_out = nullptr)
  {
    auto res = module
                   .get_method("halo_stage")({static_cast<int64_t>(k), state.at(k), types, edge_index, edge[0],
                                              edge[1], edge[2], n_local})
                   .toTensorList();
    if (aux_out) aux_out->assign({res.get(1)});
    return res.get(0);
  }

  // A copy (never a view of the caller's buffer, which is reused for the next stage while this tensor may
  // still be needed: recompute mode re-runs the stage in the backward pass).
  torch::Tensor rows(const double *data, int64_t n, int64_t w) const
  {
    auto f64 = torch::TensorOptions().dtype(torch::kDouble);
    return torch::from_blob(const_cast<double *>(data), {n, w}, f64)
        .to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
  }
};

namespace {

void to_vector(const torch::Tensor &t, std::vector<double> &dst)
{
  auto h = to_host_double(t);
  dst.assign(h.data_ptr<double>(), h.data_ptr<double>() + h.numel());
}

}    // namespace

Model::Model(const std::string &path, const std::string &device, int local_rank) :
    impl_(std::make_unique<Impl>())
{
  impl_->path = path;
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe.good()) throw std::runtime_error("cannot open model file '" + path + "'");
  }
  if (device == "cuda") {
    if (!torch::cuda::is_available())
      throw std::runtime_error("device cuda requested, but libtorch sees no CUDA device "
                               "(this torch build or machine has no GPU); use device cpu");
    const int n_gpu = static_cast<int>(torch::cuda::device_count());
    impl_->device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % n_gpu));
  } else if (device != "cpu") {
    throw std::runtime_error("unknown device '" + device + "' (use cpu or cuda)");
  }

  torch::jit::ExtraFilesMap extra{{"metadata.json", ""}};
  try {
    impl_->module = torch::jit::load(path, impl_->device, extra);
  } catch (const c10::Error &e) {
    throw std::runtime_error("'" + path + "' is not a readable TorchScript model file (" +
                             first_line(e.what_without_backtrace()) + ")");
  } catch (const std::exception &e) {
    throw std::runtime_error("'" + path + "' is not a readable TorchScript model file (" +
                             first_line(e.what()) + ")");
  }
  impl_->metadata = parse_metadata(extra["metadata.json"], path);
  impl_->dtype = impl_->metadata.dtype == "float32" ? torch::kFloat : torch::kDouble;
  impl_->module.eval();
  if (!impl_->module.find_method("forward"))
    throw std::runtime_error("'" + path + "' has no forward() method");
  impl_->has_halo = impl_->module.find_method("halo_stage").has_value();
  if (impl_->has_halo) {
    try {
      for (const auto &w : impl_->module.get_method("halo_widths")({}).toIntList())
        impl_->widths.push_back(w);
    } catch (const c10::Error &e) {
      throw std::runtime_error("'" + path + "': halo_widths() failed (" +
                               first_line(e.what_without_backtrace()) + ")");
    }
    if (static_cast<int64_t>(impl_->widths.size()) != impl_->metadata.receptive_field + 1)
      throw std::runtime_error("'" + path + "': halo_widths() has " +
                               std::to_string(impl_->widths.size()) +
                               " entries, expected receptive_field + 1 = " +
                               std::to_string(impl_->metadata.receptive_field + 1));
  }
}

Model::~Model() = default;

const ModelMetadata &Model::metadata() const { return impl_->metadata; }
const std::string &Model::path() const { return impl_->path; }
std::string Model::device_name() const { return impl_->device.str(); }

void Model::set_num_threads(int n)
{
  static bool interop_set = false;
  if (!interop_set) {
    try {
      at::set_num_interop_threads(1);
    } catch (...) {
      // already set by someone else in this process (can only be set once): keep theirs
    }
    interop_set = true;
  }
  at::set_num_threads(n);
}

void Model::set_jit_optimize(bool on) { torch::jit::setGraphExecutorOptimize(on); }

void Model::compute(const ModelInput &in, ModelOutput &out)
{
  const int64_t N = in.n_atoms, E = in.n_edges;
  auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  auto i64 = torch::TensorOptions().dtype(torch::kLong);
  auto &dev = impl_->device;
  auto dtype = impl_->dtype;
  try {
    // from_blob does not copy; to() copies when dtype/device differ. The model must not write to
    // its inputs (the contract treats them as read-only).
    auto pos = torch::from_blob(const_cast<double *>(in.positions), {N, 3}, f64).to(dev, dtype);
    auto types = torch::from_blob(const_cast<int64_t *>(in.types), {N}, i64).to(dev);
    auto eidx = torch::from_blob(const_cast<int64_t *>(in.edge_index), {2, E}, i64).to(dev);
    auto shift = torch::from_blob(const_cast<double *>(in.edge_shift), {E, 3}, f64).to(dev, dtype);
    auto nloc = torch::scalar_tensor(in.n_local, i64).to(dev);

    std::vector<torch::jit::IValue> args{pos, types, eidx, shift, nloc};
    auto result = impl_->module.forward(args);
    if (!result.isGenericDict())
      throw std::runtime_error("forward() must return Dict[str, Tensor]");
    auto dict = result.toGenericDict();
    auto get = [&](const char *key) -> torch::Tensor {
      auto it = dict.find(std::string(key));
      if (it == dict.end())
        throw std::runtime_error(std::string("forward() returned no \"") + key + "\" output");
      return it->value().toTensor();
    };
    std::vector<double> e;
    copy_out(get("energy"), e, 1, "energy");
    out.energy = e[0];
    copy_out(get("atom_energy"), out.atom_energy, N, "atom_energy");
    copy_out(get("forces"), out.forces, 3 * N, "forces");
    copy_out(get("virial"), out.virial, 9, "virial");
    copy_out(get("charges"), out.charges, N, "charges");
    copy_out(get("atomic_dipoles"), out.dipoles, 3 * N, "atomic_dipoles");
  } catch (const c10::Error &err) {
    throw std::runtime_error("model '" + impl_->path +
                             "' failed in forward(): " + first_line(err.what_without_backtrace()));
  }
}

bool Model::has_halo() const { return impl_->has_halo; }
const std::vector<int64_t> &Model::halo_widths() const { return impl_->widths; }

void Model::halo_begin(const ModelInput &in)
{
  auto &m = *impl_;
  if (!m.has_halo)
    throw std::runtime_error("model '" + m.path + "' was exported without halo-mode methods; re-export it "
                             "with this densnet or use mode ghost");
  const int64_t N = in.n_atoms, E = in.n_edges;
  auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  auto i64 = torch::TensorOptions().dtype(torch::kLong);
  try {
    m.n_atoms = N;
    m.n_local = in.n_local;
    auto pos = torch::from_blob(const_cast<double *>(in.positions), {N, 3}, f64).to(m.device, m.dtype);
    m.types = torch::from_blob(const_cast<int64_t *>(in.types), {N}, i64).to(m.device);
    m.edge_index = torch::from_blob(const_cast<int64_t *>(in.edge_index), {2, E}, i64).to(m.device);
    auto shift = torch::from_blob(const_cast<double *>(in.edge_shift), {E, 3}, f64).to(m.device, m.dtype);
    m.vec = (pos.index_select(0, m.edge_index[1]) - pos.index_select(0, m.edge_index[0]) + shift)
                .detach()
                .requires_grad_(true);
    m.edge.clear();
    for (const auto &t : m.module.get_method("halo_edges")({m.vec}).toTensorList()) m.edge.push_back(t);
    m.edge_grad.clear();
    for (const auto &t : m.edge) m.edge_grad.push_back(torch::zeros_like(t));
    m.state.assign(1, m.module.get_method("halo_embed")({m.types}).toTensor().detach());
    m.out.clear();
  } catch (const c10::Error &err) {
    throw std::runtime_error("model '" + m.path + "' failed in halo mode: " +
                             first_line(err.what_without_backtrace()));
  }
}

void Model::set_halo_recompute(bool on) { impl_->recompute = on; }

void Model::halo_forward(int k, std::vector<double> &state_local, ModelOutput &out)
{
  auto &m = *impl_;
  try {
    std::vector<torch::Tensor> aux_v;
    torch::Tensor o;
    if (m.recompute) {
      torch::NoGradGuard no_grad;    // no graph kept: halo_backward re-runs the stage
      o = m.stage(k, &aux_v);
    } else {
      o = m.stage(k, &aux_v);
    }
    torch::Tensor aux = aux_v[0];
    m.out.push_back(m.recompute ? torch::Tensor() : o);
    to_vector(o, state_local);
    if (aux.size(1) == 4) {
      to_vector(aux.select(1, 0), out.charges);
      to_vector(aux.slice(1, 1, 4), out.dipoles);
    }
  } catch (const c10::Error &err) {
    throw std::runtime_error("model '" + m.path + "' failed in halo stage " + std::to_string(k) + ": " +
                             first_line(err.what_without_backtrace()));
  }
}

void Model::halo_set_state(int k, const std::vector<double> &state_all)
{
  auto &m = *impl_;
  const int64_t w = m.widths.at(k);
  if (static_cast<int64_t>(state_all.size()) != m.n_atoms * w)
    throw std::runtime_error("halo state " + std::to_string(k) + " has the wrong size");
  m.state.resize(k + 1);
  m.state[k] = m.rows(state_all.data(), m.n_atoms, w).requires_grad_(true);
}

void Model::halo_readout(ModelOutput &out, std::vector<double> &grad_local)
{
  auto &m = *impl_;
  try {
    const int S = static_cast<int>(m.widths.size()) - 1;
    m.last = m.state.at(S).slice(0, 0, m.n_local).detach().requires_grad_(true);
    auto e = m.module.get_method("halo_readout")({m.last, m.types.slice(0, 0, m.n_local)}).toTensor();
    auto total = e.sum();
    to_vector(e, out.atom_energy);
    out.energy = total.item<double>();
    auto g = torch::autograd::grad({total}, {m.last});
    to_vector(g[0], grad_local);
  } catch (const c10::Error &err) {
    throw std::runtime_error("model '" + m.path + "' failed in halo readout: " +
                             first_line(err.what_without_backtrace()));
  }
}

void Model::halo_backward(int k, const std::vector<double> &grad_local, std::vector<double> &grad_all)
{
  auto &m = *impl_;
  try {
    auto g = m.rows(grad_local.data(), m.n_local, m.widths.at(k + 1));
    std::vector<torch::Tensor> inputs(m.edge.begin(), m.edge.end());
    if (k > 0) inputs.push_back(m.state.at(k));
    torch::Tensor o = m.recompute ? m.stage(k) : m.out.at(k);
    // stops at the edge features: their own graph (from the edge vectors) stays for the other stages
    auto grads = torch::autograd::grad({o}, inputs, {g}, /*retain_graph=*/false,
                                       /*create_graph=*/false, /*allow_unused=*/true);
    for (size_t e = 0; e < m.edge.size(); ++e)
      if (grads[e].defined()) m.edge_grad[e] += grads[e];
    if (k > 0) {
      if (grads.back().defined())
        to_vector(grads.back(), grad_all);
      else
        grad_all.assign(m.n_atoms * m.widths.at(k), 0.0);
    }
    m.out[k] = torch::Tensor();    // its graph is freed
  } catch (const c10::Error &err) {
    throw std::runtime_error("model '" + m.path + "' failed in halo backward of stage " + std::to_string(k) +
                             ": " + first_line(err.what_without_backtrace()));
  }
}

void Model::halo_finish(ModelOutput &out)
{
  auto &m = *impl_;
  try {
    std::vector<torch::Tensor> outputs(m.edge.begin(), m.edge.end());
    auto g = torch::autograd::grad(outputs, {m.vec}, m.edge_grad, false, false, true)[0];
    if (!g.defined()) g = torch::zeros_like(m.vec);
    g = g.detach();
    auto forces = torch::zeros({m.n_atoms, 3}, g.options())
                      .index_add(0, m.edge_index[0], g)
                      .index_add(0, m.edge_index[1], -g);
    auto virial = -torch::matmul(m.vec.detach().transpose(0, 1), g);
    to_vector(forces, out.forces);
    to_vector(virial, out.virial);
  } catch (const c10::Error &err) {
    throw std::runtime_error("model '" + m.path + "' failed in halo forces: " +
                             first_line(err.what_without_backtrace()));
  }
  m.state.clear();
  m.out.clear();
  m.edge.clear();
  m.edge_grad.clear();
  m.vec = m.last = torch::Tensor();
}

}    // namespace densnet

/* The only translation unit of the plugin that includes libtorch. */
#include "densnet_model.h"

#include <torch/cuda.h>
#include <torch/script.h>
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
};

Model::Model(const std::string &path, const std::string &device) : impl_(std::make_unique<Impl>())
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
    impl_->device = torch::Device(torch::kCUDA);
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
}

Model::~Model() = default;

const ModelMetadata &Model::metadata() const { return impl_->metadata; }
const std::string &Model::path() const { return impl_->path; }

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

}    // namespace densnet

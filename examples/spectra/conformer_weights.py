"""Boltzmann populations of conformers from their DFT energies (the energy= key of the optimised extxyz files).

    python examples/spectra/conformer_weights.py 300 ethanol_trans_pbe_def2svp_opt.xyz:1 \
        ethanol_gauche_pbe_def2svp_opt.xyz:2

Each argument after the temperature (K) is FILE:DEGENERACY (gauche ethanol: 2, the two mirror images).
Prints FILE weight lines (weights sum to 1; harmonic zero-point and entropy terms left out).
"""

from __future__ import annotations

import sys

import ase.io
import numpy as np
from ase.units import kB


def main(argv: list[str]) -> None:
    temperature = float(argv[0])
    names, energies, degeneracies = [], [], []
    for spec in argv[1:]:
        path, _, g = spec.rpartition(":")
        names.append(path)
        energies.append(ase.io.read(path).get_potential_energy())
        degeneracies.append(float(g))
    e = np.array(energies)
    w = np.array(degeneracies) * np.exp(-(e - e.min()) / (kB * temperature))
    for name, x, de in zip(names, w / w.sum(), (e - e.min()) * 1000, strict=True):
        print(f"{name} {x:.3f}   (E - E_min = {de:.1f} meV)")


if __name__ == "__main__":
    main(sys.argv[1:])

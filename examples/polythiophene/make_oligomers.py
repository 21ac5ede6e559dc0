"""Build all-anti oligothiophenes nT (C4n H2n+2 Sn) and relax them with GFN2-xTB (tblite).

Usage: python make_oligomers.py 1 2 3 4 5 6 8 10 12   -> writes 1T.xyz, 2T.xyz, ...
Rings alternate S up / S down along x; start geometry from thiophene bond lengths (S-C 1.71, C=C 1.37,
C-C 1.42, inter-ring C-C 1.45, C-H 1.08 A), then BFGS to fmax 0.01 eV/A with GFN2-xTB.
"""

from __future__ import annotations

import sys

import numpy as np
from ase import Atoms
from ase.optimize import BFGS

from densnet.sample import bond_graph, xtb_calculator

# one ring, S up, alpha carbons C2 (left) and C5 (right) on the x axis, centred at x = 0
RING = {"S": (0.0, 1.188), "C2": (-1.230, 0.0), "C5": (1.230, 0.0), "C3": (-0.710, -1.2675),
        "C4": (0.710, -1.2675)}
CH = 1.08
INTER = 1.45


def oligothiophene(n: int) -> Atoms:
    symbols, pos = [], []
    pitch = 2 * RING["C5"][0] + INTER
    for k in range(n):
        flip = -1.0 if k % 2 else 1.0
        x0 = k * pitch
        ring = {name: np.array([x0 + x, flip * y, 0.0]) for name, (x, y) in RING.items()}
        for name in ("S", "C2", "C3", "C4", "C5"):
            symbols.append(name[0])
            pos.append(ring[name])
        for beta in ("C3", "C4"):  # beta hydrogens point away from the ring centre
            centre = np.array([x0, flip * (RING["S"][1] + RING["C3"][1]) / 2, 0.0])
            d = ring[beta] - centre
            symbols.append("H")
            pos.append(ring[beta] + CH * d / np.linalg.norm(d))
        if k == 0:
            symbols.append("H")
            pos.append(ring["C2"] + [-CH, 0, 0])
        if k == n - 1:
            symbols.append("H")
            pos.append(ring["C5"] + [CH, 0, 0])
    return Atoms(symbols, positions=np.array(pos))


def main(ns: list[int]) -> None:
    for n in ns:
        atoms = oligothiophene(n)
        ref = bond_graph(atoms)
        atoms.calc = xtb_calculator()
        BFGS(atoms, logfile=None).run(fmax=0.01, steps=1000)
        assert bond_graph(atoms) == ref, f"{n}T changed its bonds during relaxation"
        atoms.calc = None
        atoms.info["name"] = f"{n}T"
        atoms.write(f"{n}T.xyz")
        print(f"{n}T: {atoms.get_chemical_formula()}, {len(atoms)} atoms")


if __name__ == "__main__":
    main([int(x) for x in sys.argv[1:]] or [1, 2, 3, 4, 5, 6, 8, 10, 12])

"""Write start.xyz: ethanethiol trans (anti) and both gauche conformers, each relaxed with GFN2-xTB.

Conformers by the C-C-S-H dihedral: trans ~180 deg, gauche+ ~+60 deg, gauche- ~-60 deg (gauche is doubly
degenerate, so both mirror images are used as starts). Each start is relaxed with GFN2-xTB (tblite's ASE
calculator) and the script stops if a relaxed dihedral left its conformer's well.
Writes start.xyz (all three) and start_<name>.xyz per conformer (trans, gplus, gminus) for make_data.sh.
Run from this folder: python make_start.py
"""

import ase.io
import numpy as np
from ase.build import molecule
from ase.optimize import BFGS
from tblite.ase import TBLite


def torsion_atoms(atoms):
    """(C_methyl, C_S, S, H_S) indices of the C-C-S-H dihedral."""
    sym = atoms.get_chemical_symbols()
    s = sym.index("S")
    carbons = [i for i, x in enumerate(sym) if x == "C"]
    c_s = min(carbons, key=lambda c: atoms.get_distance(c, s))
    c_me = next(c for c in carbons if c != c_s)
    h_s = min((i for i, x in enumerate(sym) if x == "H"), key=lambda h: atoms.get_distance(h, s))
    return c_me, c_s, s, h_s


def wrapped(angle):
    """Dihedral in (-180, 180]."""
    return (angle + 180.0) % 360.0 - 180.0 if not np.isclose(angle % 360.0, 180.0) else 180.0


base = molecule("CH3CH2SH")
idx = torsion_atoms(base)
starts = []
CONFORMERS = (("trans", "trans", 180.0), ("gauche+", "gplus", 60.0), ("gauche-", "gminus", -60.0))  # name, file, deg
for name, fname, target in CONFORMERS:
    atoms = base.copy()
    atoms.set_dihedral(*idx, target % 360.0, indices=[idx[3]])
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    BFGS(atoms, logfile=None).run(fmax=1e-3, steps=500)
    phi = wrapped(atoms.get_dihedral(*idx))
    energy = atoms.get_potential_energy()
    print(f"{name:8s} C-C-S-H {phi:7.1f} deg  E(GFN2) {energy:.5f} eV")
    assert abs(wrapped(phi - target)) < 30.0, f"{name} relaxed out of its well ({phi:.1f} deg)"
    frame = atoms.copy()
    frame.calc = None
    frame.info.update(conformer=name, dihedral_CCSH=round(float(phi), 2))
    starts.append(frame)
    ase.io.write(f"start_{fname}.xyz", frame, format="extxyz")
ase.io.write("start.xyz", starts, format="extxyz")

"""Relative energies of the start conformers: GFN2-xTB (the sampling method) vs the reference DFT level.

Single points at the GFN2-xTB geometries of start.xyz (no DFT relaxation), energies in meV relative to the
lowest conformer. Shows how far the sampling method's conformer balance is from the reference level's.
Usage (from this folder): python conformer_energies.py [start.xyz]
"""

import sys

import ase.io
from tblite.ase import TBLite

from densnet.dft import HARTREE, LevelOfTheory, make_mol, run_scf

frames = ase.io.read(sys.argv[1] if len(sys.argv) > 1 else "start.xyz", ":")
lot = LevelOfTheory()
rows = []
for atoms in frames:
    a = atoms.copy()
    a.calc = TBLite(method="GFN2-xTB", verbosity=0)
    e_xtb = a.get_potential_energy()
    mf, _ = run_scf(make_mol(atoms.numbers, atoms.positions, lot.basis, charge=lot.charge), lot, None)
    rows.append((atoms.info.get("conformer", "?"), e_xtb, float(mf.e_tot) * HARTREE))
ref_xtb, ref_dft = min(r[1] for r in rows), min(r[2] for r in rows)
print(f"conformer   GFN2-xTB/meV   {lot.describe()}/meV")
for name, e_xtb, e_dft in rows:
    print(f"{name:10s} {1000 * (e_xtb - ref_xtb):12.1f}   {1000 * (e_dft - ref_dft):12.1f}")

"""Write the LAMMPS data files of the examples: ethanol.data (one molecule, non-periodic) and
box.data (64 small H/C/O molecules on a 4x4x4 grid, periodic, with molecule IDs for per-molecule dipoles).

    python make_data.py            # writes ethanol.data and box.data next to this script

LAMMPS types 1, 2, 3 are C, H, O (pair_coeff * * model.pt C H O); atom_style molecular (molecule IDs,
no bonds); coordinates wrapped into the box with image flags, so molecules are whole when unwrapped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import molecule
from ase.data import atomic_masses, atomic_numbers

HERE = Path(__file__).resolve().parent
ELEMENTS = ["C", "H", "O"]
BOX_MOLECULES = ("H2O", "CH3OH", "CH4", "H2CO", "CO2")


def ethanol(box: float = 30.0) -> Atoms:
    """One ethanol molecule in the middle of a (non-periodic) box of edge ``box`` Angstrom."""
    atoms = molecule("CH3CH2OH")
    atoms.cell = [box] * 3
    atoms.center()
    atoms.set_array("mol-id", np.ones(len(atoms), dtype=int))
    return atoms


def molecule_box(n_per_side: int = 4, spacing: float = 4.2, seed: int = 11) -> Atoms:
    """n_per_side**3 randomly oriented molecules (cycling through BOX_MOLECULES) on a grid of ``spacing`` A."""
    rng = np.random.default_rng(seed)
    positions, symbols, mol_ids = [], [], []
    for k, (a, b, c) in enumerate(np.ndindex(n_per_side, n_per_side, n_per_side)):
        m = molecule(BOX_MOLECULES[k % len(BOX_MOLECULES)])
        m.positions -= m.get_center_of_mass()
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        m.rotate(2 * np.degrees(np.arccos(q[0])), q[1:])
        centre = (np.array([a, b, c]) + 0.5) * spacing + rng.uniform(-0.3, 0.3, 3)
        positions.extend(m.positions + centre)
        symbols.extend(m.get_chemical_symbols())
        mol_ids.extend([k + 1] * len(m))
    atoms = Atoms(symbols, positions=np.array(positions), cell=[n_per_side * spacing] * 3, pbc=True)
    atoms.set_array("mol-id", np.array(mol_ids))
    return atoms


def write_data(path: Path, atoms: Atoms) -> Path:
    """LAMMPS data file, atom_style molecular: id mol type x y z ix iy iz (orthorhombic box from 0)."""
    lengths = np.diag(atoms.cell.array)
    images = np.floor(atoms.positions / lengths).astype(int) * np.asarray(atoms.pbc, dtype=int)
    wrapped = atoms.positions - images * lengths
    mol = atoms.get_array("mol-id")
    lines = [f"densnet example: {atoms.get_chemical_formula()}", "", f"{len(atoms)} atoms"]
    lines += [f"{len(ELEMENTS)} atom types", ""]
    lines += [f"0 {lengths[k]:.10f} {ax}lo {ax}hi" for k, ax in enumerate("xyz")]
    lines += ["", "Masses", ""]
    lines += [f"{k + 1} {atomic_masses[atomic_numbers[e]]:.6f}  # {e}" for k, e in enumerate(ELEMENTS)]
    lines += ["", "Atoms # molecular", ""]
    for i, (s, p, n) in enumerate(zip(atoms.get_chemical_symbols(), wrapped, images, strict=True)):
        t = ELEMENTS.index(s) + 1
        lines.append(f"{i + 1} {mol[i]} {t} {p[0]:.10f} {p[1]:.10f} {p[2]:.10f} {n[0]} {n[1]} {n[2]}")
    path.write_text("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    for name, atoms in (("ethanol.data", ethanol()), ("box.data", molecule_box())):
        write_data(HERE / name, atoms)
        print(f"wrote {HERE / name}: {len(atoms)} atoms, {atoms.get_array('mol-id').max()} molecule(s)")

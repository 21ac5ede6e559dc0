"""Per-molecule dipoles from a LAMMPS dump with compute densnet/atom columns (the MDAnalysis path).

    python molecule_dipoles.py box.lammpstrj -o molecule_dipoles.npy [--masses 12.011 1.008 15.999]

The dump must hold ``id mol type x y z ix iy iz c_dip[1] c_dip[2] c_dip[3] c_dip[4]`` (as in.box_nve writes).
For every frame and molecule M: mu_M = sum_{i in M} q_i (x_i - X_M) + p_i (e*A) with unwrapped positions and
X_M the molecule's centre of mass. Writes an array [frames, molecules, 3] and prints the first molecules.
in.box_nve computes the same inside LAMMPS (molecule_dipoles.dat), see docs/lammps.md.
"""

from __future__ import annotations

import argparse

import numpy as np

COLUMNS = ["mol", "c_dip[1]", "c_dip[2]", "c_dip[3]", "c_dip[4]"]


def molecule_dipoles(dump: str, masses: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """(steps [F], dipoles [F, M, 3] in e*A) for the F frames and M molecules of ``dump``.

    masses: amu of LAMMPS types 1, 2, ... (for the centres of mass).
    """
    import MDAnalysis as mda

    u = mda.Universe(dump, format="LAMMPSDUMP", unwrap_images=True, additional_columns=COLUMNS)
    mass = np.array([masses[int(t) - 1] for t in u.atoms.types])
    steps, result = [], []
    for ts in u.trajectory:
        mol = np.asarray(ts.data["mol"], dtype=int)
        n = mol.max() + 1
        q = np.asarray(ts.data["c_dip[1]"], dtype=float)
        p = np.stack([np.asarray(ts.data[c], dtype=float) for c in COLUMNS[2:]], axis=1)
        x = ts.positions.astype(np.float64)
        total_mass = np.bincount(mol, mass, n)
        com = np.stack([np.bincount(mol, mass * x[:, k], n) for k in range(3)], axis=1)
        com = com / np.where(total_mass > 0, total_mass, 1.0)[:, None]
        r = x - com[mol]
        mu = np.stack([np.bincount(mol, q * r[:, k] + p[:, k], n) for k in range(3)], axis=1)
        result.append(mu[np.unique(mol)])
        steps.append(int(ts.data.get("step", ts.frame)))
    return np.asarray(steps), np.asarray(result)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dump")
    ap.add_argument("-o", "--output", help=".npy file for the [frames, molecules, 3] array")
    ap.add_argument("--masses", type=float, nargs="+", default=[12.011, 1.008, 15.999],
                    help="amu of LAMMPS types 1, 2, ... (default: C H O of the examples)")
    a = ap.parse_args()
    steps, mu = molecule_dipoles(a.dump, a.masses)
    if a.output:
        np.save(a.output, mu)
    print(f"{len(steps)} frames, {mu.shape[1]} molecules; first frame, molecules 1-3 (e*A):")
    print(np.array2string(mu[0, :3], precision=6))


if __name__ == "__main__":
    main()

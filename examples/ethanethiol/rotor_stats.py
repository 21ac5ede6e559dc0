"""SH-rotor statistics of MD trajectories: time fraction in trans / gauche+ / gauche- and number of changes.

Conformer from the H-S-C-C dihedral (trans: |angle| > 120 deg; gauche+ / gauche-: positive / negative otherwise),
atom order of the examples' structures (C0 C1 S2 H3(S) ...). Reads LAMMPS dumps or any ASE-readable trajectory.
Usage (from the repository root):
    python examples/ethanethiol/rotor_stats.py examples/ethanethiol/ir/md/replica-*/traj.lammpstrj
"""

import sys

import ase.io
import numpy as np


def states(path: str) -> np.ndarray:
    """'t' / '+' / '-' per frame."""
    fmt = "lammps-dump-text" if path.endswith(".lammpstrj") else None
    frames = ase.io.read(path, ":", format=fmt)
    d = (np.array([a.get_dihedral(3, 2, 1, 0) for a in frames]) + 180.0) % 360.0 - 180.0
    return np.where(np.abs(d) > 120.0, "t", np.where(d > 0, "+", "-"))


def main() -> None:
    everything = []
    for path in sys.argv[1:]:
        s = states(path)
        everything.append(s)
        print(f"{path}: trans {np.mean(s == 't'):.3f}  gauche+ {np.mean(s == '+'):.3f}  "
              f"gauche- {np.mean(s == '-'):.3f}  changes {int((s[1:] != s[:-1]).sum())}")
    s = np.concatenate(everything)
    print(f"all {len(everything)} runs: trans {np.mean(s == 't'):.3f}  gauche {np.mean(s != 't'):.3f}")


if __name__ == "__main__":
    main()

"""Hydroxyl-rotamer statistics of MD trajectories: time fraction in in/in, in/out, out/out and number of changes.

Rotamer from the two C2-C-O-H dihedrals (``check_frames.conformer``: "in" when |angle| < 90 deg), atom order of
make_start.py and of the examples' DFT minima (C1..C6, O1, O3, four ring H, HO1, HO3). Reads LAMMPS dumps or any
ASE-readable trajectory. Usage (from the repository root):
    python examples/resorcinol/rotamer_stats.py examples/resorcinol/ir/md/replica-*/traj.lammpstrj
"""

import sys

import ase.io
import numpy as np
from check_frames import conformer

NAMES = ("in/in", "in/out", "out/out")


def rotamers(path: str) -> np.ndarray:
    """Rotamer name per frame."""
    fmt = "lammps-dump-text" if path.endswith(".lammpstrj") else None
    return np.array([conformer(a) for a in ase.io.read(path, ":", format=fmt)])


def main() -> None:
    everything = []
    for path in sys.argv[1:]:
        s = rotamers(path)
        everything.append(s)
        print(f"{path}: " + "  ".join(f"{n} {np.mean(s == n):.3f}" for n in NAMES)
              + f"  changes {int((s[1:] != s[:-1]).sum())}")
    s = np.concatenate(everything)
    print(f"all {len(everything)} runs ({len(s)} frames): " + "  ".join(f"{n} {np.mean(s == n):.3f}" for n in NAMES))


if __name__ == "__main__":
    main()

"""Check sampled frames: bonds kept, rotamer populations, expected split sizes, frame-to-frame correlation.

Usage (from this folder): python check_frames.py data/frames.extxyz
Each hydroxyl H is "in" (towards C2, |C2-C-O-H| < 90 deg) or "out"; rotamers in/in, in/out, out/out.
The checks themselves are shared with examples/ethanethiol/check_frames.py.
"""

import importlib.util
import sys
from pathlib import Path

import ase.io
import numpy as np

_spec = importlib.util.spec_from_file_location(
    "ethanethiol_check_frames", Path(__file__).resolve().parent.parent / "ethanethiol" / "check_frames.py")
_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shared)
report = _shared.report

# atom order of make_start.py: C1..C6, O1 (on C1), O3 (on C3), ring H x4, HO1, HO3
DIHEDRALS = ((1, 0, 6, 12), (1, 2, 7, 13))


def conformer(atoms) -> str:
    sides = sorted("in" if abs((atoms.get_dihedral(*d) + 180.0) % 360.0 - 180.0) < 90 else "out"
                   for d in DIHEDRALS)
    return "/".join(sides)


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "data/frames.extxyz"
    frames = ase.io.read(path, ":")
    for a in frames:  # the atom order must be that of make_start.py
        assert a.get_chemical_symbols() == ["C"] * 6 + ["O"] * 2 + ["H"] * 6
    assert [conformer(a) for a in ase.io.read("start.xyz", ":")] == ["in/in", "in/out", "out/out"]
    names = ["in-in", "in-out", "out-out"]  # conformer index k of make_data.sh: seed = 10 T + k
    start_of_seed = {10 * t + k: ase.io.read(f"start_{n}.xyz") for t in (300, 500) for k, n in enumerate(names)}
    report(frames, start_of_seed, conformer)
    # how far up the OH torsion barrier the frames go: |deviation of C2-C-O-H from 0 or 180 deg|
    for t in sorted({a.info["temperature_K"] for a in frames}):
        dev = np.array([90.0 - abs(abs((a.get_dihedral(*d) + 180.0) % 360.0 - 180.0) - 90.0)
                        for a in frames if a.info["temperature_K"] == t for d in DIHEDRALS])
        print(f"OH torsion out of plane at {t:.0f} K (deg): median {np.median(dev):.1f}, "
              f"95th percentile {np.percentile(dev, 95):.1f}, max {dev.max():.1f}")

"""Check sampled frames: bonds kept, conformer populations, expected split sizes, frame-to-frame correlation.

Usage (from this folder): python check_frames.py data/frames.extxyz
(examples/resorcinol/check_frames.py reuses ``report``.)
Conformers by the C-C-S-H dihedral: trans |phi| > 120 deg, gauche+ 0..120, gauche- -120..0.
"""

import sys
from collections import Counter

import ase.io
import numpy as np

from densnet.dataset import assign_splits, frame_groups
from densnet.sample import bond_graph, same_bonds

SPLIT = (0.75, 0.08, 0.17)  # as in make_data.sh; split seed 0 is densnet label's default


def conformer(atoms) -> str:
    sym = atoms.get_chemical_symbols()
    s = sym.index("S")
    carbons = [i for i, x in enumerate(sym) if x == "C"]
    c_s = min(carbons, key=lambda c: atoms.get_distance(c, s))
    c_me = next(c for c in carbons if c != c_s)
    h_s = min((i for i, x in enumerate(sym) if x == "H"), key=lambda h: atoms.get_distance(h, s))
    phi = (atoms.get_dihedral(c_me, c_s, s, h_s) + 180.0) % 360.0 - 180.0
    return "trans" if abs(phi) > 120 else ("gauche+" if phi > 0 else "gauche-")


def report(frames, start_of_seed, conformer) -> None:
    """Print the checks; ``start_of_seed`` maps each sample seed to its start structure, ``conformer`` names a frame."""
    starts = {k: bond_graph(a) for k, a in start_of_seed.items()}
    seed = [int(a.info["traj"].split("-seed")[1].split("-")[0]) for a in frames]
    broken = sum(not same_bonds(starts[s], a) for s, a in zip(seed, frames, strict=True))
    print(f"frames: {len(frames)}, trajectories: {len({a.info['traj'] for a in frames})}, "
          f"frames with changed bonds: {broken}")
    conf = [conformer(a) for a in frames]
    temps = sorted({a.info["temperature_K"] for a in frames})
    names = sorted(set(conf))
    print("conformer populations (frames):")
    print("  T/K  " + "  ".join(f"{n:>8s}" for n in names))
    for t in temps:
        c = Counter(x for x, a in zip(conf, frames, strict=True) if a.info["temperature_K"] == t)
        print(f"  {t:4.0f} " + "  ".join(f"{c[n]:8d}" for n in names))
    c = Counter(conf)
    print("  all  " + "  ".join(f"{c[n]:8d}" for n in names))
    split = assign_splits(frame_groups(frames), SPLIT, 0)
    print("expected split (train/val/test frames):", [int((split == k).sum()) for k in range(3)])
    # frame-to-frame correlation of the interatomic distances within an MD trajectory (lags 1, 2, 4 frames);
    # normal-mode frames are independent (one frame per "trajectory") and are skipped
    by_traj: dict[str, list[np.ndarray]] = {}
    iu = np.triu_indices(len(frames[0]), 1)
    for a in frames:
        by_traj.setdefault(a.info["traj"], []).append(a.get_all_distances()[iu])
    for lag in (1, 2, 4):
        r = []
        for d in by_traj.values():
            if len(d) <= lag:
                continue
            d = np.array(d) - np.mean(d, axis=0)
            num = (d[:-lag] * d[lag:]).sum(0)
            den = np.sqrt((d[:-lag] ** 2).sum(0) * (d[lag:] ** 2).sum(0))
            r.append(num / den)
        print(f"distance autocorrelation at lag {lag} MD frame(s): mean over pairs and trajectories "
              f"{np.mean(r):.2f}, max over pairs {np.max(np.mean(r, axis=0)):.2f}")
    print("per start structure (start file -> conformer counts):")
    for s in sorted(start_of_seed):
        c = Counter(x for x, k in zip(conf, seed, strict=True) if k == s)
        print(f"  seed {s}: " + ", ".join(f"{n} {c[n]}" for n in names))


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "data/frames.extxyz"
    frames = ase.io.read(path, ":")
    names = ["trans", "gplus", "gminus"]  # conformer index k of make_data.sh: seed = 10 T + k
    names.append("trans")  # k = 3: the normal-mode frames about the trans minimum
    start_of_seed = {10 * t + k: ase.io.read(f"start_{n}.xyz") for t in (300, 500) for k, n in enumerate(names)}
    report(frames, start_of_seed, conformer)

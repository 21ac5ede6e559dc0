"""Probe a trained potential for holes just outside its training data (an MD stability diagnostic).

Each hydrogen of a minimum-energy structure is moved onto spheres of radius r around its bonded atom, in
``--directions`` random directions (the same for every model; placements closer than r to any other atom
are skipped), and the lowest energy relative to the unmoved structure is reported per H and radius. A sound
potential is repulsive there (the DFT energy of an X-H bond compressed to 0.9 A is about 1 eV above the
minimum); a negative value is a hole that MD at 300 K can fall into.

    python benchmarks/pes_probe.py examples/ethanol/model/model.ckpt \
        benchmarks/accuracy_work/ethanol/mace/mace_stagetwo.model --out benchmarks/pes_probe.md

densnet checkpoints (.ckpt) are evaluated here; MACE files (.model) in .venv-mace (``make mace-env``), by
running this script there with ``--worker``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RADII = (0.6, 0.7, 0.8, 0.9, 1.0)


def directions(n_dirs: int, seed: int) -> np.ndarray:
    """[n_dirs, 3] random unit vectors (the same for every model)."""
    dirs = np.random.default_rng(seed).normal(size=(n_dirs, 3))
    return dirs / np.linalg.norm(dirs, axis=1)[:, None]


def placed(atoms, h: int, nb: int, r: float, u: np.ndarray):
    """A copy of ``atoms`` with H ``h`` at distance r (A) from atom ``nb`` along u; None if another atom is
    then closer than r."""
    moved = atoms.copy()
    moved.positions[h] = atoms.positions[nb] + r * u
    d = moved.get_all_distances()
    np.fill_diagonal(d, np.inf)
    return None if d.min() < r - 1e-9 else moved


def probe(model: str, structure: str, n_dirs: int, seed: int) -> dict:
    """{'e_min_rel': {H: [lowest E - E0 (eV) per radius]}, 'argmin': {H: [direction index or -1 per radius]},
    'neighbour': {H: [bonded atom index, 'C1']}}."""
    from ase.io import read

    if model.endswith(".model"):
        from mace.calculators import MACECalculator

        calc = MACECalculator(model_paths=model, device="cpu", default_dtype="float64")
    else:
        from densnet.calculator import DenSNetCalculator

        calc = DenSNetCalculator(model)
    atoms = read(structure)
    atoms.calc = calc
    e0 = atoms.get_potential_energy()
    sym = atoms.get_chemical_symbols()
    dist = atoms.get_all_distances()
    rows, arg, nbs = {}, {}, {}
    for h in (i for i, s in enumerate(sym) if s == "H"):
        nb = int(np.argsort(dist[h])[1])
        nbs[h] = [nb, f"{sym[nb]}{nb}"]
        rows[h], arg[h] = [], []
        for r in RADII:
            lowest, best = np.inf, -1
            for k, u in enumerate(directions(n_dirs, seed)):
                moved = placed(atoms, h, nb, r, u)
                if moved is None:
                    continue
                moved.calc = calc
                e = moved.get_potential_energy() - e0
                if e < lowest:
                    lowest, best = e, k
            rows[h].append(float(lowest))
            arg[h].append(best)
    return {"e_min_rel": rows, "argmin": arg, "neighbour": nbs}


def dft_check(structure: str, res: dict, n_dirs: int, seed: int, radii=(0.8, 0.9)) -> dict:
    """Reference-level DFT E - E0 (eV) at the placements where ``res`` found its lowest energy:
    {H: [value per radius in ``radii``]}."""
    from ase.io import read
    from ase.units import Hartree

    from densnet.dft import LevelOfTheory, make_mol, run_scf

    lot = LevelOfTheory()
    atoms = read(structure)

    def energy(a) -> float:
        return run_scf(make_mol(a.numbers, a.positions, lot.basis), lot)[0].e_tot * Hartree

    e0, dirs, out = energy(atoms), directions(n_dirs, seed), {}
    for h, idx in res["argmin"].items():
        nb = res["neighbour"][h][0]
        out[h] = [energy(placed(atoms, int(h), nb, r, dirs[idx[RADII.index(r)]])) - e0
                  if idx[RADII.index(r)] >= 0 else float("nan") for r in radii]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="densnet .ckpt or MACE .model files")
    p.add_argument("--structure", default=str(ROOT / "examples/spectra/ethanol_gauche_pbe_def2svp_opt.xyz"))
    p.add_argument("--directions", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="markdown report")
    p.add_argument("--dft", action="store_true",
                   help="also the reference-level DFT energy at the first model's lowest placements at 0.8 and 0.9 A")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(probe(args.models[0], args.structure, args.directions, args.seed)))
        return
    results = {}
    for m in args.models:
        if m.endswith(".model"):
            py = ROOT / ".venv-mace/bin/python"
            cmd = [str(py), __file__, m, "--structure", args.structure, "--directions", str(args.directions),
                   "--seed", str(args.seed), "--worker"]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            results[m] = json.loads(out.strip().splitlines()[-1])
        else:
            results[m] = probe(m, args.structure, args.directions, args.seed)
    radii = " | ".join(f"r = {r} A" for r in RADII)
    lines = ["# Holes next to the training data (benchmarks/pes_probe.py)", "",
             f"Command: `python benchmarks/pes_probe.py {' '.join(args.models)} --structure {args.structure} "
             f"--directions {args.directions} --seed {args.seed}`; {datetime.date.today()}, {platform.machine()}, "
             f"{os.cpu_count()} cores.", "",
             "Each H moved onto a sphere of radius r about its bonded atom (random directions, placements "
             "closer than r to another atom skipped); lowest E - E(minimum) in eV over the directions. Negative: "
             "a hole below the minimum (MD can fall in); `--dft` adds the reference DFT values at the first model's "
             "lowest placements. "
             "'-': no direction keeps the other atoms at least r away (C-H at 1.0 A).",
             ""]
    for m, res in results.items():
        lines += [f"## {m}", "", f"| H (bonded to) | {radii} |", "|---" * (len(RADII) + 1) + "|"]
        for h, vals in res["e_min_rel"].items():
            cells = " | ".join(f"{v:+.2f}" if np.isfinite(v) else "-" for v in vals)
            lines.append(f"| H{h} ({res['neighbour'][h][1]}) | {cells} |")
        worst = min(v[RADII.index(0.9)] for v in res["e_min_rel"].values())
        lines += ["", f"Lowest at 0.9 A over all H: {worst:+.2f} eV.", ""]
    if args.dft:
        first = args.models[0]
        ref = dft_check(args.structure, results[first], args.directions, args.seed)
        lines += ["## DFT at the first model's holes", "",
                  f"PBE/def2-SVP (densnet's reference level) E - E0 in eV at the placements where {first} is lowest, "
                  "next to that model's value:", "",
                  "| H (bonded to) | DFT, 0.8 A | model, 0.8 A | DFT, 0.9 A | model, 0.9 A |", "|---|---|---|---|---|"]
        for h, (d8, d9) in ref.items():
            m8, m9 = (results[first]["e_min_rel"][h][RADII.index(r)] for r in (0.8, 0.9))
            lines.append(f"| H{h} ({results[first]['neighbour'][h][1]}) | {d8:+.2f} | {m8:+.2f} | {d9:+.2f} | "
                         f"{m9:+.2f} |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    sys.exit(main())

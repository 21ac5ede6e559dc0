"""Harmonic frequencies of the MACE model trained on densnet's split (benchmarks/accuracy.py), for comparison
with the DFT and densnet harmonic spectra: is a band error of densnet's in the data or in the model?
Run with MACE's own environment (MACE has no dipoles, so frequencies only):

    .venv-mace/bin/python benchmarks/mace_harmonic.py benchmarks/mace_harmonic_3T.md \\
        --structure examples/polythiophene/3T.xyz \\
        --mace benchmarks/accuracy_work/polythiophene/mace/mace_stagetwo.model \\
        --dft-sticks examples/polythiophene/data/harmonic/3T_dft_sticks.csv \\
        --densnet-sticks examples/polythiophene/harmonic_model/3T_sticks.csv

For every DFT normal mode with >= --min-fraction of the strongest intensity: the MACE and densnet modes of the
same rank (all three spectra have 3N-6 modes, sorted by frequency; the nearest mode in frequency can be a
different, weak mode). MACE: BFGS to 1e-4 eV/A, then ase.vibrations central differences (0.005 A).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import sys
import tempfile
from pathlib import Path

import numpy as np


def read_sticks(path: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(wavenumber, intensity, label) of a densnet harmonic CSV: densnet.spectra.read_sticks_csv's format, read
    here because densnet is not installed in MACE's environment."""
    with open(path) as fh:
        rows = list(csv.reader(line for line in fh if not line.startswith("#")))[1:]
    return (np.array([float(r[0]) for r in rows]), np.array([float(r[1]) for r in rows]),
            [r[2] if len(r) > 2 else "" for r in rows])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("output")
    p.add_argument("--structure", required=True)
    p.add_argument("--mace", required=True)
    p.add_argument("--dft-sticks", required=True)
    p.add_argument("--densnet-sticks", required=True)
    p.add_argument("--min-fraction", type=float, default=0.1)
    a = p.parse_args()

    import ase.io
    from ase.optimize import BFGS
    from ase.vibrations import Vibrations
    from mace.calculators import MACECalculator

    atoms = ase.io.read(a.structure)
    atoms.calc = MACECalculator(model_paths=a.mace, device="cpu", default_dtype="float64")
    BFGS(atoms, logfile=None).run(fmax=1e-4, steps=2000)
    with tempfile.TemporaryDirectory() as tmp:
        vib = Vibrations(atoms, name=str(Path(tmp) / "vib"), delta=0.005)
        vib.run()
        mace = np.sort(np.array([f.real for f in vib.get_frequencies()])[6:])
    dft_nu, dft_int, labels = read_sticks(a.dft_sticks)
    dn_nu = read_sticks(a.densnet_sticks)[0]
    if not len(dft_nu) == len(dn_nu) == len(mace):
        sys.exit(f"mode counts differ: DFT {len(dft_nu)}, densnet {len(dn_nu)}, MACE {len(mace)}")
    order = np.argsort(dft_nu)
    dft_nu, dft_int, labels = dft_nu[order], dft_int[order], [labels[i] for i in order]
    dn_nu = np.sort(dn_nu)
    strong = dft_int >= a.min_fraction * dft_int.max()
    lines = ["| rank | DFT mode | DFT (cm^-1) | I (km/mol) | MACE | MACE - DFT | densnet | densnet - DFT |",
             "|---|---|---|---|---|---|---|---|"]
    for k in np.flatnonzero(strong):
        nu, m, d = dft_nu[k], mace[k], dn_nu[k]
        lines.append(f"| {k + 1} | {labels[k] or '-'} | {nu:.1f} | {dft_int[k]:.1f} | {m:.1f} | {m - nu:+.1f} | "
                     f"{d:.1f} | {d - nu:+.1f} |")
    cmd = " ".join([".venv-mace/bin/python", Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    text = (f"# Harmonic bands: MACE and densnet (same training split) against DFT\n\nCommand: `{cmd}`  \n"
            f"Date: {datetime.date.today()}. Structure `{a.structure}`; MACE `{a.mace}`; DFT `{a.dft_sticks}`; "
            f"densnet `{a.densnet_sticks}`. Rows: DFT modes with >= {a.min_fraction:g} x the strongest intensity; "
            "the mode of the same rank (by frequency) of each model (frequencies only: MACE has no dipoles).\n\n"
            + "\n".join(lines) + "\n")
    Path(a.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()

"""GFN2-xTB harmonic IR spectra of oligothiophenes nT (issue 7): how the named bands move with chain length in an
independent quantum-chemical method, cheap enough for 12T. The 12T MD spectrum is judged against the DFT harmonic
spectrum of the longest affordable oligomer (4T); this shows how much of a 12T-vs-4T difference is chain-length
physics. xTB's absolute wavenumbers differ from PBE's: only the shifts with length are compared. The ring-stretch
band only: for the C-H out-of-plane modes the strongest sticks of xTB and PBE are not clearly the same mode.

Per length: BFGS minimum (fmax 1e-3 eV/A) from examples/polythiophene/nT.xyz, Hessian and dipole derivatives by
central differences (densnet.harmonic.fd_derivatives, 0.005 A), modes and labels as `densnet harmonic`
-> nT_xtb_sticks.csv (kept: re-runs skip finished lengths); then results.md. From the repository root:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/xtb_bands/run.py
"""

from __future__ import annotations

import platform
import sys
import time
from datetime import date
from pathlib import Path

import ase.io

from densnet.harmonic import fd_derivatives, normal_modes, optimise
from densnet.sample import xtb_calculator

HERE = Path(__file__).parent
OLIGOMERS = HERE.parent.parent / "examples" / "polythiophene"
LENGTHS = [1, 2, 3, 4, 5, 6, 8, 10, 12]
WINDOW = (1460.0, 1530.0)  # cm^-1: the strong ring-stretch band (DFT 4T: 1492.8, 110 km/mol)


def sticks(n: int) -> Path:
    out = HERE / f"{n}T_xtb_sticks.csv"
    if not out.exists():
        t0 = time.perf_counter()
        calc = xtb_calculator()
        a = optimise(ase.io.read(OLIGOMERS / f"{n}T.xyz"), calc, fmax=1e-3)
        hess, dmu = fd_derivatives(calc, a)
        modes = normal_modes(hess, a.get_masses(), a.positions, dmu).assign(a)
        modes.write_csv(out, f"GFN2-xTB (tblite) harmonic of {n}T.xyz: BFGS fmax 1e-3 eV/A, central differences "
                             f"0.005 A; {time.perf_counter() - t0:.0f} s on {platform.node()}")
        print(f"{n}T done in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def strongest(path: Path, lo: float = WINDOW[0], hi: float = WINDOW[1]) -> str:
    """"wavenumber (km/mol)" of the strongest stick in [lo, hi] cm^-1 of a stick CSV, "-" without one."""
    rows = [line.split(",") for line in path.read_text().splitlines() if line[:1].isdigit()]
    best = max(((float(r[0]), float(r[1])) for r in rows if lo <= float(r[0]) <= hi), key=lambda x: x[1],
               default=None)
    return "-" if best is None else f"{best[0]:.1f} ({best[1]:.0f})"


def main() -> None:
    files = {n: sticks(n) for n in LENGTHS}
    ref = float(strongest(files[4]).split()[0])
    shift = {n: "-" if strongest(f) == "-" else f"{float(strongest(f).split()[0]) - ref:+.1f}"
             for n, f in files.items()}
    other = {"densnet": lambda n: OLIGOMERS / ("ir/sticks_model_0.csv" if n == 12
                                               else f"harmonic_model/{n}T_sticks.csv"),
             "DFT": lambda n: OLIGOMERS / f"data/harmonic/{n}T_dft_sticks.csv"}
    lines = ["# GFN2-xTB harmonic ring-stretch band of oligothiophenes against chain length", "",
             f"Made by `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/xtb_bands/run.py` on {date.today()}, "
             f"{platform.node()} ({platform.machine()}); sticks in `nT_xtb_sticks.csv` (time per length in their "
             f"first line). Per length the strongest stick in {WINDOW[0]:.0f}-{WINDOW[1]:.0f} cm^-1, wavenumber "
             "(km/mol), of GFN2-xTB, of densnet's MD model (model_stable: `harmonic_model/nT_sticks.csv`, 12T: "
             "`ir/sticks_model_0.csv`) and of DFT (`data/harmonic/`, 1T-4T); xTB shift = against xTB 4T, the "
             "longest DFT reference. cm^-1.", "",
             "| length | GFN2-xTB | xTB shift vs 4T | densnet | DFT (PBE/def2-SVP) |", "|---|---|---|---|---|"]
    for n, f in files.items():
        cols = [strongest(get(n)) if get(n).exists() else "-" for get in other.values()]
        lines.append(f"| {n}T | {strongest(f)} | {shift[n]} | " + " | ".join(cols) + " |")
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())

"""Wall time of one `densnet label` frame (SCF + gradient + constrained density fit) per structure.

Usage: python benchmarks/label_timing.py OUT.md STRUCTURE.xyz [...] [--threads N]
Appends a Markdown table row per structure with the machine, thread count and 1-minute load average at the
start, and the CPU time of the process (with 1 thread, close to the wall time on a quiet machine).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import ase.io

HEADER = (
    "# Labelling time per frame (densnet label, reference level: {level})\n\n"
    "Command: `python benchmarks/label_timing.py benchmarks/label_timing.md <xyz...> --threads N` (one frame each, "
    "cold start from PySCF's default guess; `densnet label` starts later frames from the previous frame's "
    "density, which saves no SCF cycle for MD frames 50 fs apart: benchmarks/label_guess.md). CPU seconds "
    "(process time) are what one quiet core would take; wall seconds grow with the machine's load (load average "
    "at the start of each frame).\n\n"
    "| structure | atoms | threads | wall s | CPU s | SCF cycles | load avg | date | machine |\n"
    "|---|---|---|---|---|---|---|---|---|\n"
)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("structures", nargs="+")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    from pyscf import lib

    from densnet.basis import resolve_basis
    from densnet.dft import LevelOfTheory, label_frame

    lib.num_threads(a.threads)
    lot = LevelOfTheory()
    if not os.path.exists(a.out):
        with open(a.out, "w") as fh:
            fh.write(HEADER.format(level=lot.describe()))
    for path in a.structures:
        atoms = ase.io.read(path)
        basis = resolve_basis(lot.density_basis, sorted(set(atoms.get_chemical_symbols())))
        load = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        rec = label_frame(atoms.numbers, atoms.positions, lot, basis)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        row = (f"| {os.path.basename(path)} | {len(atoms)} | {a.threads} | {dt:.1f} | {cpu:.1f} "
               f"| {rec['n_scf_cycles']} | {load:.1f} | {datetime.date.today()} "
               f"| {platform.processor() or platform.machine()}, {os.cpu_count()} cores |")
        print(row, flush=True)
        with open(a.out, "a") as fh:
            fh.write(row + "\n")


if __name__ == "__main__":
    main()

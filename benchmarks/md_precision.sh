#!/usr/bin/env bash
# float32 vs float64 exported model in LAMMPS NVE: energy conservation, IR peak positions and speed.
# Same model, same start, same seeds; only densnet-export --dtype differs.
#
#   bash benchmarks/md_precision.sh            # -> benchmarks/md_precision.md (work files in $OUT)
#
# Env: CKPT (examples/ethanol/model/model.ckpt), START (gauche ethanol, PBE/def2-SVP minimum), OUT
# (runs/md_precision), REPLICAS (2), EQUILIBRATE (2ps), PRODUCTION (10ps), SEED (7). Resumable (densnet lammps md
# skips finished replicas).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
CKPT=${CKPT:-examples/ethanol/model/model.ckpt}
START=${START:-examples/spectra/ethanol_gauche_pbe_def2svp_opt.xyz}
OUT=${OUT:-runs/md_precision}
mkdir -p "$OUT"
PLUGIN=$($BIN/densnet lammps build)
for d in 64 32; do
  [ -f "$OUT/m$d.pt" ] || $BIN/densnet-export "$CKPT" -o "$OUT/m$d.pt" --dtype "float$d"
  $BIN/densnet lammps md "$OUT/m$d.pt" "$START" -o "$OUT/md$d" --replicas "${REPLICAS:-2}" --parallel 1 \
    --equilibrate "${EQUILIBRATE:-2ps}" --production "${PRODUCTION:-10ps}" --seed "${SEED:-7}" --plugin "$PLUGIN" -q
  logs=("$OUT/md$d"/replica-*/log.lammps)
  $BIN/densnet check-md "$OUT/md$d"/replica-*/traj.lammpstrj --elements H C O --energies "${logs[@]}" \
    --json "$OUT/check$d.json" > "$OUT/check$d.txt" || true
  $BIN/densnet ir "$OUT/md$d"/replica-*/dipole.dat -o "$OUT/ir$d.csv" --peaks "$OUT/peaks$d.csv" > /dev/null
done
$BIN/python - "$OUT" "$CKPT" "$START" <<'PY'
import csv
import datetime
import json
import os
import platform
import re
import sys
from pathlib import Path

out, ckpt, start = Path(sys.argv[1]), sys.argv[2], sys.argv[3]


def peaks(d):
    with open(out / f"peaks{d}.csv") as fh:
        rows = [r for r in csv.reader(line for line in fh if not line.startswith("#"))]
    head, body = rows[0], rows[1:]
    i, j = head.index("wavenumber_cm-1"), head.index("relative_height")
    return sorted(((float(r[i]), float(r[j])) for r in body), key=lambda p: -p[1])


def speed(d):
    """Production-loop steps/s of each replica (the last 'Loop time' line of its log.lammps)."""
    rates = []
    for log in sorted((out / f"md{d}").glob("replica-*/log.lammps")):
        found = re.findall(r"Loop time of ([\d.]+) on \d+ procs for (\d+) steps", log.read_text())
        rates.append(int(found[-1][1]) / float(found[-1][0]) if found else float("nan"))
    return rates


rep = {d: json.loads((out / f"check{d}.json").read_text()) for d in (64, 32)}
lines = ["# float32 vs float64 model in LAMMPS NVE (ethanol)", "",
         f"Command: `bash benchmarks/md_precision.sh` (CKPT={ckpt}, START={start}; "
         f"{os.environ.get('REPLICAS', '2')} replicas x {os.environ.get('PRODUCTION', '10ps')} NVE after "
         f"{os.environ.get('EQUILIBRATE', '2ps')} Langevin at 300 K, dt 0.5 fs, same seeds for both). "
         f"Date {datetime.date.today()}, machine {platform.machine()} with {os.cpu_count()} cores "
         f"(load average {os.getloadavg()[0]:.1f} at the end: shared; speeds are wall-clock steps/s of LAMMPS' "
         "main loop and only indicative).", "",
         "| dtype | replica | drift (eV/atom/ps) | max abs(E - E0) (eV/atom) | stable | loop steps/s |", "|---|---|---|---|---|---|"]
for d in (64, 32):
    sp = speed(d)
    for k, r in enumerate(rep[d]):
        e = r["energy"]
        lines.append(f"| float{d} | {k} | {e['drift_eV_per_atom_per_ps']:.2e} | {e['max_deviation_eV_per_atom']:.2e} | "
                     f"{r['ok']} | {sp[k]:.1f} |")
p64, p32 = peaks(64), peaks(32)
lines += ["", "Strongest IR peaks (`densnet ir` of the replicas averaged; relative height), float64 vs the nearest "
          "float32 peak:", "", "| float64 peak (cm^-1) | height | float32 peak (cm^-1) | height | difference (cm^-1) |",
          "|---|---|---|---|---|"]
for nu, h in p64[:10]:
    near, h32 = min(p32, key=lambda p: abs(p[0] - nu))
    lines.append(f"| {nu:.1f} | {h:.2f} | {near:.1f} | {h32:.2f} | {near - nu:+.1f} |")
Path("benchmarks/md_precision.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY

#!/usr/bin/env bash
# Distorted frames for training only (MD stability, issue 6): thermal MD at 300-500 K leaves the energy network
# free to make deep holes just outside the sampled region (benchmarks/pes_probe.md: with MD frames alone an H
# moved around its bonded atom at 0.9 A fell 0.8-1.8 eV below the ethanol minimum and a LAMMPS replica collapsed
# an O-H bond). This samples harmonic normal-mode frames about each start (GFN2-xTB Hessian) at 1000 K and
# 3000 K (compressed bonds, wide bends), FRAMES per (start, temperature), and labels them at the reference level
# into the train split only, so the MD dataset's test split stays the held-out measure.
# Run from a molecule's folder (the data/ folder there receives the files). Resumable: re-run the same command.
#   bash ../make_distorted.sh DATASET FRAMES NAME=START.xyz [NAME=START.xyz ...]
#   e.g. WORKERS=2 bash ../make_distorted.sh data/ethanethiol_distorted.h5 30 trans=start_trans.xyz
# Seeds are T + len(NAME) per (NAME, T), as in the first (ethanol) use.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: make_distorted.sh DATASET FRAMES NAME=START.xyz [NAME=START.xyz ...]" >&2
  exit 2
fi
D=${DENSNET:-$(dirname "$0")/../.venv/bin/densnet}
out_h5=$1 frames=$2
shift 2
mkdir -p data
parts=()
for spec in "$@"; do
  conf=${spec%%=*} start=${spec#*=}
  [ -f "$start" ] || { echo "make_distorted.sh: start structure $start not found" >&2; exit 2; }
  for T in 1000 3000; do
    out=data/nm_${conf}_T$T.extxyz
    if [ ! -f "$out" ]; then
      $D sample "$start" -o "$out.tmp" --method normal-modes --temperature $T --frames "$frames" \
        --seed $((T + ${#conf})) -q
      mv "$out.tmp" "$out"
    fi
    parts+=("$out")
  done
done
all=data/distorted.extxyz
[ -f "$all" ] || { cat "${parts[@]}" > "$all.tmp" && mv "$all.tmp" "$all"; }
$D label "$all" -o "$out_h5" --chunk-size 50 --split 1,0,0 --workers "${WORKERS:-1}" \
  --summary-json data/label_summary_distorted.json -q

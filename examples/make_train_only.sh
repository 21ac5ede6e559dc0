#!/usr/bin/env bash
# Extra frames for the train split only (MD stability, issue 6), labelled at the reference level with
# --split 1,0,0 so that the MD dataset's val/test splits stay the held-out measure. Thermal MD at 300-500 K
# leaves the energy network free to make deep holes just outside the sampled region (benchmarks/pes_probe.md,
# benchmarks/stability/README.md: an ethanol LAMMPS replica collapsed an O-H bond). Two kinds:
#   distorted       normal-mode frames about each start (GFN2-xTB Hessian) at 1000 K and 3000 K, FRAMES per
#                   (start, temperature), seeds T + len(NAME); starts given as NAME=START.xyz
#   close-contacts  FRAMES frames with one terminal atom (an H) pushed to 0.75-0.95 of its bond length in a
#                   random direction (densnet sample --method close-contacts); starts given as START.xyz
# Run from a molecule's folder (its data/ folder receives the files). Resumable: re-run the same command.
#   bash ../make_train_only.sh distorted DATASET FRAMES NAME=START.xyz [NAME=START.xyz ...]
#   bash ../make_train_only.sh close-contacts DATASET FRAMES START.xyz [START.xyz ...]
#   (WORKERS=2 for two PySCF processes)
set -euo pipefail
if [ $# -lt 4 ] || { [ "$1" != distorted ] && [ "$1" != close-contacts ]; }; then
  echo "usage: make_train_only.sh distorted|close-contacts DATASET FRAMES START... (see the header)" >&2
  exit 2
fi
D=${DENSNET:-$(dirname "$0")/../.venv/bin/densnet}
kind=$1 out_h5=$2 frames=$3
shift 3
mkdir -p data
if [ "$kind" = distorted ]; then
  all=data/distorted.extxyz summary=data/label_summary_distorted.json chunk=50
  parts=()
  for spec in "$@"; do
    conf=${spec%%=*} start=${spec#*=}
    [ -f "$start" ] || { echo "make_train_only.sh: start structure $start not found" >&2; exit 2; }
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
  [ -f "$all" ] || { cat "${parts[@]}" > "$all.tmp" && mv "$all.tmp" "$all"; }
else
  all=data/close_contacts.extxyz summary=data/label_summary_close.json chunk=25
  if [ ! -f "$all" ]; then
    cat "$@" > data/close_starts.tmp.xyz
    $D sample data/close_starts.tmp.xyz -o "$all.tmp" --method close-contacts --frames "$frames" --seed 0 -q
    rm data/close_starts.tmp.xyz
    mv "$all.tmp" "$all"
  fi
fi
$D label "$all" -o "$out_h5" --chunk-size $chunk --split 1,0,0 --workers "${WORKERS:-1}" --summary-json "$summary" -q

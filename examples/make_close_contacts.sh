#!/usr/bin/env bash
# Close-contact frames for training only (MD stability, issue 6): a terminal atom (an H) pushed to 0.75-0.95 of
# its bond length in a random direction (densnet sample --method close-contacts), labelled at the reference
# level into the train split only. Thermal and normal-mode frames leave the region just inside the sampled bond
# lengths free; an ethanol model trained from scratch on MD + distorted frames still fell 21 eV below its
# minimum with an H at 0.9 A from its carbon (benchmarks/stability/README.md).
# Run from a molecule's folder (the data/ folder there receives the files). Resumable: re-run the same command.
#   bash ../make_close_contacts.sh DATASET FRAMES START.xyz [START.xyz ...]
#   e.g. WORKERS=2 bash ../make_close_contacts.sh data/ethanol_close.h5 150 ../spectra/ethanol_trans_pbe_def2svp_opt.xyz
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: make_close_contacts.sh DATASET FRAMES START.xyz [START.xyz ...]" >&2
  exit 2
fi
D=${DENSNET:-$(dirname "$0")/../.venv/bin/densnet}
out_h5=$1 frames=$2
shift 2
mkdir -p data
frames_xyz=data/close_contacts.extxyz
if [ ! -f "$frames_xyz" ]; then
  cat "$@" > data/close_starts.tmp.xyz
  $D sample data/close_starts.tmp.xyz -o "$frames_xyz.tmp" --method close-contacts --frames "$frames" --seed 0 -q
  rm data/close_starts.tmp.xyz
  mv "$frames_xyz.tmp" "$frames_xyz"
fi
$D label "$frames_xyz" -o "$out_h5" --chunk-size 25 --split 1,0,0 --workers "${WORKERS:-1}" \
  --summary-json data/label_summary_close.json -q

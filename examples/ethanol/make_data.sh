#!/usr/bin/env bash
# Production ethanol data (validation issue): 1400 GFN2-xTB MD frames (trans + gauche starts, 300 K and 500 K,
# 28 trajectories each), labelled at the reference level. Resumable: re-run the same command to continue.
#   WORKERS=2 bash examples/ethanol/make_data.sh
set -euo pipefail
cd "$(dirname "$0")"
D=../../.venv/bin/densnet
mkdir -p data
for T in 300 500; do
  if [ ! -f data/T$T.extxyz ]; then
    $D sample start.xyz -o data/T$T.tmp.extxyz --temperature $T --frames 700 --trajectories 28 --seed $T -q
    mv data/T$T.tmp.extxyz data/T$T.extxyz
  fi
done
[ -f data/frames.extxyz ] || cat data/T300.extxyz data/T500.extxyz > data/frames.extxyz
$D label data/frames.extxyz -o data/ethanol.h5 --chunk-size 50 --split 0.75,0.08,0.17 \
  --workers "${WORKERS:-1}" --summary-json data/label_summary.json -q

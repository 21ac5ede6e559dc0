#!/usr/bin/env bash
# Oligothiophene training data (1T..6T), GFN2-xTB MD at 300 K and 500 K from the relaxed all-anti chains
# (made by make_oligomers.py), labelled at the reference level, one dataset per oligomer so each can be
# committed when done. Counts favour small oligomers (cost grows ~n^3); extend them from learning curves.
# Resumable: re-run the same command to continue.   WORKERS=2 bash examples/polythiophene/make_data.sh
set -euo pipefail
cd "$(dirname "$0")"
D=../../.venv/bin/densnet
mkdir -p data
declare -A FRAMES=([1]=240 [2]=200 [3]=120 [4]=80 [5]=60 [6]=40)
for n in 1 2 3 4 5 6; do
  half=$(( FRAMES[$n] / 2 ))
  for T in 300 500; do
    out=data/${n}T_T$T.extxyz
    if [ ! -f "$out" ]; then
      $D sample ${n}T.xyz -o data/tmp.extxyz --temperature $T --frames $half --trajectories 10 --seed $((100 * n + T)) \
        --equilibrate 500 -q
      mv data/tmp.extxyz "$out"
    fi
  done
  [ -f data/${n}T_frames.extxyz ] || cat data/${n}T_T300.extxyz data/${n}T_T500.extxyz > data/${n}T_frames.extxyz
done
for n in 1 2 3 4 5 6; do
  $D label data/${n}T_frames.extxyz -o data/${n}T.h5 --chunk-size 10 --workers "${WORKERS:-1}" \
    --summary-json data/${n}T_label_summary.json -q
done

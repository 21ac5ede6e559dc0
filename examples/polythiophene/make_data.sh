#!/usr/bin/env bash
# Oligothiophene training data (1T..6T), GFN2-xTB MD at 300 K and 500 K from the relaxed all-anti chains
# (made by make_oligomers.py), labelled at the reference level, one dataset per oligomer so each can be
# committed when done. Counts favour small oligomers (cost grows steeply with length); extend them from
# learning curves. Sampling runs ahead in the background; labelling takes each oligomer as soon as its frames
# exist. Resumable: re-run the same command to continue.   WORKERS=2 bash examples/polythiophene/make_data.sh
set -euo pipefail
cd "$(dirname "$0")"
D=../../.venv/bin/densnet
mkdir -p data
declare -A FRAMES=([1]=240 [2]=200 [3]=120 [4]=80 [5]=60 [6]=40)

sample_all() {
  for n in 1 2 3 4 5 6; do
    half=$(( FRAMES[$n] / 2 ))
    for T in 300 500; do
      out=data/${n}T_T$T.extxyz
      if [ ! -f "$out" ]; then
        $D sample ${n}T.xyz -o data/tmp_${n}T_T$T.extxyz --temperature $T --frames $half --trajectories 10 \
          --seed $((100 * n + T)) --equilibrate 500 -q
        mv data/tmp_${n}T_T$T.extxyz "$out"
      fi
    done
    [ -f data/${n}T_frames.extxyz ] || cat data/${n}T_T300.extxyz data/${n}T_T500.extxyz > data/${n}T_frames.extxyz
  done
}

label_all() {
  for n in 1 2 3 4 5 6; do
    while [ ! -f data/${n}T_frames.extxyz ]; do sleep 30; done
    $D label data/${n}T_frames.extxyz -o data/${n}T.h5 --chunk-size 10 --workers "${WORKERS:-1}" \
      --summary-json data/${n}T_label_summary.json -q
  done
}

sample_all &
label_all
wait

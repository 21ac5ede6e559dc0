#!/usr/bin/env bash
# Held-out extrapolation set (issue 7): thermal single points of 8T, 10T and 12T, never used in training.
# GFN2-xTB Langevin MD at 300 K from the relaxed all-anti chains (FRAMES independent trajectories per length,
# one frame each after 1 ps of equilibration), labelled at the reference level. One dataset per length:
# data/nT_extrap.h5 (evaluate with `densnet evaluate MODEL data/12T_extrap.h5 --split all`; the train/val/test
# labels inside these files mean nothing, the whole file is held out). WORKERS=2 labels 12T in one process and 8T
# then 10T in another (THREADS threads each, default 1). Measured here (`seconds`, `n_scf_cycles` of each chunk;
# means: `densnet info data/nT_extrap.h5`): 12T 930 and 1642 s (17 and 30 SCF cycles) with 2 threads and no other
# labelling process, 2263 s (16 cycles) with 1 thread next to the 8T process; 8T 1318 s (16 cycles) with 1 thread.
# Resumable: re-run the same command to continue.
#   FRAMES=3 WORKERS=2 bash examples/polythiophene/make_extrapolation.sh
#   SAMPLE_ONLY=1 bash examples/polythiophene/make_extrapolation.sh     # sample the frames, do not label
set -euo pipefail
cd "$(dirname "$0")"
D=../../.venv/bin/densnet
mkdir -p data
FRAMES=${FRAMES:-3}
for n in 8 10 12; do
  out=data/${n}T_extrap_frames.extxyz
  if [ ! -f "$out" ]; then
    $D sample ${n}T.xyz -o data/tmp_${n}T_extrap.extxyz --temperature 300 --frames "$FRAMES" \
      --trajectories "$FRAMES" --seed $((1000 + n)) --equilibrate 1000 -q
    mv data/tmp_${n}T_extrap.extxyz "$out"
  fi
done
if [ -n "${SAMPLE_ONLY:-}" ]; then exit 0; fi
label() {  # label n...: the held-out frames of these lengths, one after the other
  for n in "$@"; do
    $D label data/${n}T_extrap_frames.extxyz -o data/${n}T_extrap.h5 --chunk-size 1 --workers 1 \
      --threads "${THREADS:-1}" --summary-json data/${n}T_extrap_label_summary.json -q
  done
}
if [ "${WORKERS:-1}" -ge 2 ]; then
  label 12 & twelve=$!  # the acceptance test, in its own process
  label 8 10
  wait $twelve
else
  label 12 8 10
fi

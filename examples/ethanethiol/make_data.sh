#!/usr/bin/env bash
# Ethanethiol data (validation issue): 720 GFN2-xTB MD frames + 120 normal-mode frames, labelled at the
# reference level.
# MD: the trans, gauche+ and gauche- conformers (start_<name>.xyz from make_start.py) as starts, each at
# 300 K and 500 K with 4 independent trajectories of 30 frames (one every 50 fs after 500 fs of
# equilibration): 24 trajectories. GFN2-xTB puts trans 62 meV above gauche (PBE/def2-SVP single points at
# those geometries: 32 meV) and its trans well is shallow, so the MD frames are almost all gauche.
# Normal modes: 60 harmonic frames about the GFN2-xTB trans minimum per temperature (independent frames)
# cover the trans region.
# Every (temperature, conformer) sample has its own seed, so trajectory ids (md-T<T>-seed<seed>-<i>) are unique
# and the train/val/test split (by trajectory) never puts frames of one trajectory in two splits.
# Then 180 distorted frames for training only (30 normal-mode frames per start at 1000 K and 3000 K about
# the GFN2-xTB minima: ../make_train_only.sh, data/ethanethiol_distorted.h5), the stability recipe found on ethanol,
# and 100 close-contact frames (an H pushed to 0.75-0.95 of its bond length: ../make_train_only.sh,
# data/ethanethiol_close.h5, train split only).
# Resumable: finished frame files are kept; re-run the same command to continue.
#   WORKERS=2 bash examples/ethanethiol/make_data.sh
#   SAMPLE_ONLY=1 bash examples/ethanethiol/make_data.sh   # sample the frames, do not label
#   SAMPLE_JOBS=3 ...                              # sample the three conformers in parallel processes
set -euo pipefail
cd "$(dirname "$0")"
D=../../.venv/bin/densnet
CONFS=(trans gplus gminus)
mkdir -p data

sample_one() {  # temperature, conformer index
  local T=$1 k=$2 name=${CONFS[$2]}
  local out=data/T${T}_${name}.extxyz
  [ -f "$out" ] && return 0
  OMP_NUM_THREADS=1 $D sample "start_${name}.xyz" -o "data/T${T}_${name}.tmp.extxyz" --temperature "$T" \
    --frames 120 --trajectories 4 --stride 50 --equilibrate 500 --seed $((T * 10 + k)) -q
  mv "data/T${T}_${name}.tmp.extxyz" "$out"
}

sample_trans_nm() {  # temperature: harmonic (normal-mode) frames about the GFN2-xTB trans minimum
  local T=$1 out=data/T${1}_trans_nm.extxyz
  [ -f "$out" ] && return 0
  OMP_NUM_THREADS=1 $D sample start_trans.xyz -o "data/T${T}_trans_nm.tmp.extxyz" --method normal-modes \
    --temperature "$T" --frames 60 --seed $((T * 10 + 3)) -q
  mv "data/T${T}_trans_nm.tmp.extxyz" "$out"
}

sample_trans_nm 300
sample_trans_nm 500
if [ "${SAMPLE_JOBS:-1}" -gt 1 ]; then
  pids=()
  for k in 0 1 2; do ( sample_one 300 $k && sample_one 500 $k ) & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p"; done
else
  for T in 300 500; do for k in 0 1 2; do sample_one $T $k; done; done
fi
if [ ! -f data/frames.extxyz ]; then
  for T in 300 500; do
    for name in "${CONFS[@]}"; do cat "data/T${T}_${name}.extxyz"; done
    cat "data/T${T}_trans_nm.extxyz"
  done > data/frames.tmp.extxyz
  mv data/frames.tmp.extxyz data/frames.extxyz
fi
if [ -n "${SAMPLE_ONLY:-}" ]; then exit 0; fi
$D label data/frames.extxyz -o data/ethanethiol.h5 --chunk-size 50 --split 0.75,0.08,0.17 \
  --workers "${WORKERS:-1}" --summary-json data/label_summary.json -q
bash ../make_train_only.sh distorted data/ethanethiol_distorted.h5 30 trans=start_trans.xyz gplus=start_gplus.xyz gminus=start_gminus.xyz
bash ../make_train_only.sh close-contacts data/ethanethiol_close.h5 100 start_trans.xyz start_gplus.xyz start_gminus.xyz

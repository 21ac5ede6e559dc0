#!/usr/bin/env bash
# Oligothiophene training data (1T..6T), GFN2-xTB MD at 300 K and 500 K (10 trajectories each) from the relaxed
# all-anti chains (made by make_oligomers.py), labelled at the reference level. Counts favour small oligomers
# (cost grows steeply with length). Labelling goes in rounds so that every length gets data early: round a =
# trajectories 0-4 of each temperature of 2T..6T (data/nT_a.h5), round b = trajectories 5-9 (data/nT_b.h5);
# 1T is one dataset (data/1T.h5). Each dataset splits by trajectory and can be committed when done. Between
# the rounds: train-only frames for MD stability (issue 6's recipe, ../make_train_only.sh): normal-mode distorted
# frames of 1T and 2T at 1000/3000 K (data/pt_distorted.h5), close contacts of a terminal H (data/pt_close.h5) and
# normal-mode distorted frames of 3T at 1000 K (data/pt_distorted_3T.h5).
# Round b runs only with ROUND_B=1, and was not labelled: the learning curve (make_model.sh's
# `--densnet-variant half=model_half.yaml`; README.md, "Learning curve and the round-b decision") is flat.
# Sampling runs ahead in the background (NO_SAMPLE=1 skips it). Resumable: re-run the same command to continue.
#   WORKERS=2 bash examples/polythiophene/make_data.sh            (ROUND_B=1 WORKERS=2 ... for round b)
set -euo pipefail
cd "$(dirname "$0")"
D=../../.venv/bin/densnet
PY=../../.venv/bin/python
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

# data/nT_frames.extxyz -> data/nT_frames_{a,b}.extxyz by trajectory index (info key traj = md-T...-seed...-k)
split_rounds() {
  $PY - "$1" <<'PY'
import sys
from pathlib import Path

import ase.io

src = Path(sys.argv[1])
frames = ase.io.read(src, ":")
for name, keep in (("a", range(0, 5)), ("b", range(5, 10))):
    sel = [f for f in frames if int(f.info["traj"].rsplit("-", 1)[1]) in keep]
    tmp = src.with_name(f"tmp_{src.stem}_{name}.extxyz")
    ase.io.write(tmp, sel, format="extxyz")
    tmp.rename(src.with_name(f"{src.stem}_{name}.extxyz"))
PY
}

label() {  # label FRAMES OUTPUT; a finished dataset (summary written) is skipped so its summary keeps its rate
  [ -f "${2%.h5}_label_summary.json" ] && return 0
  $D label "$1" -o "$2" --chunk-size 10 --workers "${WORKERS:-1}" --summary-json "${2%.h5}_label_summary.json" -q
}

# normal-mode distorted frames of 3T (GFN2-xTB Hessian, 1000 K; train split only): 1T and 2T have no inner ring.
# Added for the inner-ring C-H out-of-plane band (18 cm^-1 below DFT at 3T, benchmarks/mace_harmonic_3T.md), which
# they did not move (benchmarks/oop_band/: distorted_3T); not yet in model.yaml or model_stable.yaml
distorted_inner_rings() {
  if [ ! -f data/nm_3T_T1000.extxyz ]; then
    $D sample 3T.xyz -o data/tmp_nm_3T_T1000.extxyz --method normal-modes --temperature 1000 --frames 24 --seed 1002 -q
    mv data/tmp_nm_3T_T1000.extxyz data/nm_3T_T1000.extxyz
  fi
  [ -f data/label_summary_distorted_3T.json ] && return 0
  $D label data/nm_3T_T1000.extxyz -o data/pt_distorted_3T.h5 --chunk-size 4 --split 1,0,0 --workers "${WORKERS:-1}" \
    --summary-json data/label_summary_distorted_3T.json -q
}

label_all() {
  label data/1T_frames.extxyz data/1T.h5
  for round in a ${ROUND_B:+b}; do
    for n in 2 3 4 5 6; do
      while [ ! -f data/${n}T_frames.extxyz ]; do sleep 30; done
      [ -f data/${n}T_frames_b.extxyz ] || split_rounds data/${n}T_frames.extxyz
      label data/${n}T_frames_$round.extxyz data/${n}T_$round.h5
    done
    if [ $round = a ]; then
      bash ../make_train_only.sh distorted data/pt_distorted.h5 30 1T=1T.xyz 2T=2T.xyz
      bash ../make_train_only.sh close-contacts data/pt_close.h5 100 1T.xyz 2T.xyz
      distorted_inner_rings
    fi
  done
}

[ -n "${NO_SAMPLE:-}" ] || sample_all &
label_all
wait

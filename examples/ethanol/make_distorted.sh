#!/usr/bin/env bash
# Distorted ethanol frames for training only (stability, issue 6): the 300-500 K MD set leaves the energy
# network free to make deep holes just outside it (benchmarks/pes_probe.md: H moved around its bonded atom at
# 0.9 A falls 0.8-1.8 eV below the minimum; one 300 K LAMMPS replica collapsed an O-H bond). These are
# harmonic normal-mode frames about the PBE/def2-SVP trans and gauche minima at 1000 K and 3000 K (GFN2-xTB
# Hessian; compressed bonds and wide bends), 75 per (conformer, temperature), labelled at the reference level
# into the train split only, so that the 250-frame test split of data/ethanol.h5 stays the same.
# Resumable: re-run the same command.
#   WORKERS=2 bash examples/ethanol/make_distorted.sh
set -euo pipefail
cd "$(dirname "$0")"
D=../../.venv/bin/densnet
mkdir -p data
for conf in trans gauche; do
  for T in 1000 3000; do
    out=data/nm_${conf}_T$T.extxyz
    [ -f "$out" ] && continue
    $D sample "../spectra/ethanol_${conf}_pbe_def2svp_opt.xyz" -o "$out.tmp" --method normal-modes \
      --temperature $T --frames 75 --seed $((T + ${#conf})) -q
    mv "$out.tmp" "$out"
  done
done
[ -f data/distorted.extxyz ] || cat data/nm_trans_T1000.extxyz data/nm_trans_T3000.extxyz \
  data/nm_gauche_T1000.extxyz data/nm_gauche_T3000.extxyz > data/distorted.extxyz
$D label data/distorted.extxyz -o data/ethanol_distorted.h5 --chunk-size 50 --split 1,0,0 \
  --workers "${WORKERS:-1}" --summary-json data/label_summary_distorted.json -q

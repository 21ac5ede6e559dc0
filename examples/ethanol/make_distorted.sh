#!/usr/bin/env bash
# Distorted ethanol frames for training only (stability, issue 6; the recipe is in ../make_train_only.sh):
# normal-mode frames about the PBE/def2-SVP trans and gauche minima at 1000 K and 3000 K, 75 per
# (conformer, temperature), into data/ethanol_distorted.h5 (train split only, so the 250-frame test split of
# data/ethanol.h5 stays the same). Resumable: re-run the same command.
#   WORKERS=2 bash examples/ethanol/make_distorted.sh
set -euo pipefail
cd "$(dirname "$0")"
exec bash ../make_train_only.sh distorted data/ethanol_distorted.h5 75 \
  trans=../spectra/ethanol_trans_pbe_def2svp_opt.xyz gauche=../spectra/ethanol_gauche_pbe_def2svp_opt.xyz

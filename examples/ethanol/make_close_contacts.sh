#!/usr/bin/env bash
# Close-contact ethanol frames for training only (the recipe is in ../make_train_only.sh): 150 frames with
# one H pushed to 0.75-0.95 of its bond length, from the PBE/def2-SVP trans and gauche minima, into
# data/ethanol_close.h5 (train split only). Resumable: re-run the same command.
#   WORKERS=2 bash examples/ethanol/make_close_contacts.sh
set -euo pipefail
cd "$(dirname "$0")"
exec bash ../make_train_only.sh close-contacts data/ethanol_close.h5 150 \
  ../spectra/ethanol_trans_pbe_def2svp_opt.xyz ../spectra/ethanol_gauche_pbe_def2svp_opt.xyz

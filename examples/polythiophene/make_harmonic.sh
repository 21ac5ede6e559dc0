#!/usr/bin/env bash
# DFT harmonic IR references of 1T..4T at the reference level (issue 7: the 12T MD spectrum is compared with
# the longest oligomer the budget allows). Resumable finite-difference path (densnet harmonic --dft --workdir:
# restartable optimisation, then 6N displaced SCF gradients + dipoles labelled like densnet label).
# Re-run to continue; each finished spectrum is data/harmonic/nT_dft_sticks.csv (+ nT_dft_opt.xyz).
#   WORKERS=2 bash examples/polythiophene/make_harmonic.sh      (MAX_RINGS=3 to stop after 3T)
set -euo pipefail
cd "$(dirname "$0")"
D=../../.venv/bin/densnet
mkdir -p data/harmonic
for n in $(seq 1 "${MAX_RINGS:-4}"); do
  out=data/harmonic/${n}T_dft_sticks.csv
  [ -f "$out" ] && continue
  $D harmonic --dft ${n}T.xyz -o data/harmonic/tmp_${n}T.csv --write-optimised data/harmonic/${n}T_dft_opt.xyz \
    --workdir data/harmonic/${n}T_work --workers "${WORKERS:-1}" --threads 1
  mv data/harmonic/tmp_${n}T.csv "$out"
done

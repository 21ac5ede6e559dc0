#!/usr/bin/env bash
# DFT harmonic IR references of 1T..4T at the reference level (issue 7: the 12T MD spectrum is compared with
# the longest oligomer the budget allows), by the resumable path of ../make_dft_harmonic.sh (restartable
# optimisation, then PySCF's analytic Hessian and dipole derivatives). 1T was made with METHOD=fd (finite
# differences of 6N displaced SCFs) before the analytic dipole derivatives existed.
# From 4T on, the optimisation starts at densnet's minimum when make_band_convergence.sh has written it
# (harmonic_model/nT_opt.xyz: fewer BFGS steps; the DFT minimum itself does not depend on the start).
# Re-run to continue; each finished spectrum is data/harmonic/nT_dft_sticks.csv (+ nT_dft_opt.xyz).
#   THREADS=2 bash examples/polythiophene/make_harmonic.sh      (MAX_RINGS=3 to stop after 3T)
set -euo pipefail
cd "$(dirname "$0")"
specs=()
for n in $(seq 1 "${MAX_RINGS:-4}"); do
  start=${n}T.xyz
  [ "$n" -ge 4 ] && [ -f "harmonic_model/${n}T_opt.xyz" ] && start=harmonic_model/${n}T_opt.xyz
  specs+=("${n}T_dft=$start")
done
exec bash ../make_dft_harmonic.sh data/harmonic "${specs[@]}"

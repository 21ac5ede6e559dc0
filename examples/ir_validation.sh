#!/usr/bin/env bash
# IR validation of a trained model (issues 6 and 7): LAMMPS NVE replicas -> IR spectrum -> peak table against
# the DFT harmonic spectrum, densnet's own harmonic spectrum and experimental bands -> stability check.
#
#   CKPT=examples/ethanol/model/model.ckpt START=examples/spectra/ethanol_trans_pbe_def2svp_opt.xyz \
#   REFS="examples/spectra/ethanol_trans_pbe_def2svp_opt.xyz:examples/spectra/ethanol_trans_pbe_def2svp_sticks.csv:0.211 \
#         examples/spectra/ethanol_gauche_pbe_def2svp_opt.xyz:examples/spectra/ethanol_gauche_pbe_def2svp_sticks.csv:0.789" \
#   BANDS=examples/ethanol/ir_bands.txt OUT=examples/ethanol/ir bash examples/ir_validation.sh
#
# REFS: one STRUCTURE:DFT_STICKS:WEIGHT per conformer (weights: populations at the MD temperature); the
# DFT sticks are weighted into one reference spectrum, and densnet's own harmonic spectrum is computed from
# each STRUCTURE (re-optimised with the model) with the same weights.
# MODEL_STRUCTURES: optional STRUCTURE:WEIGHT list for densnet's own harmonic spectrum when it should not be taken
# at the REFS structures (issue 7: the DFT reference is the longest affordable oligomer, densnet's harmonic
# spectrum is that of the simulated 12T chain: MODEL_STRUCTURES="examples/polythiophene/12T.xyz:1").
# Optional: REPLICAS (4), PRODUCTION (12.5ps per replica), EQUILIBRATE (5ps), PARALLEL (2 replicas at once),
# TEMPERATURE (300). Resumable: re-run the same command (finished replicas are skipped, unfinished ones
# continue from their LAMMPS restart files; the harmonic spectra are kept once written).
# Writes to $OUT: model.pt, md/replica-NN/, ir.csv, ir.png, peaks.csv, sticks_model_K.csv (+ opt_model_K.xyz),
# sticks_dft_mix.csv (the weighted DFT reference), peak_table.md, stability.json.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
: "${CKPT:?set CKPT}" "${START:?set START}" "${REFS:?set REFS}" "${OUT:?set OUT}"
mkdir -p "$OUT"

$BIN/densnet-export "$CKPT" -o "$OUT/model.pt"
PLUGIN=$($BIN/densnet lammps build)
$BIN/densnet lammps md "$OUT/model.pt" "$START" -o "$OUT/md" --replicas "${REPLICAS:-4}" \
  --parallel "${PARALLEL:-2}" --temperature "${TEMPERATURE:-300}" --equilibrate "${EQUILIBRATE:-5ps}" \
  --production "${PRODUCTION:-12.5ps}" --plugin "$PLUGIN"
BANDS_ARG=()
[ -n "${BANDS:-}" ] && BANDS_ARG=(--bands "$BANDS")
DFT=() MODEL_REFS=()
for ref in $REFS; do
  IFS=: read -r structure sticks weight <<< "$ref"
  DFT+=("$sticks:$weight")
  MODEL_REFS+=("$structure:$weight")
done
# shellcheck disable=SC2206
[ -n "${MODEL_STRUCTURES:-}" ] && MODEL_REFS=($MODEL_STRUCTURES)
MODEL=() k=0
for ref in "${MODEL_REFS[@]}"; do
  IFS=: read -r structure weight <<< "$ref"
  if [ ! -f "$OUT/sticks_model_$k.csv" ]; then
    $BIN/densnet harmonic "$CKPT" "$structure" -o "$OUT/tmp_sticks.csv" --write-optimised "$OUT/opt_model_$k.xyz"
    mv "$OUT/tmp_sticks.csv" "$OUT/sticks_model_$k.csv"
  fi
  MODEL+=("$OUT/sticks_model_$k.csv:$weight")
  k=$((k + 1))
done
# the weighted DFT reference as one stick file, for the plot overlay
$BIN/python - "$OUT/sticks_dft_mix.csv" "${DFT[@]}" <<'PY'
import sys

from densnet.bandtable import read_labelled_sticks

nu, inten, modes = read_labelled_sticks(sys.argv[2:])  # old two-column files: no mode labels
labelled = any(modes)
with open(sys.argv[1], "w") as fh:
    fh.write(f"# weighted DFT harmonic sticks: {' + '.join(sys.argv[2:])}\nwavenumber_cm-1,intensity_km/mol"
             + (",mode\n" if labelled else "\n"))
    fh.writelines(f"{a:.3f},{b:.6f}" + (f",{m}\n" if labelled else "\n")
                  for a, b, m in sorted(zip(nu, inten, modes, strict=True)))
PY
$BIN/densnet ir "$OUT"/md/replica-*/dipole.dat -o "$OUT/ir.csv" --plot "$OUT/ir.png" --peaks "$OUT/peaks.csv" \
  --sticks "$OUT/sticks_dft_mix.csv" "${BANDS_ARG[@]}"
$BIN/densnet ir-table "$OUT/peaks.csv" --dft-sticks "${DFT[@]}" --model-sticks "${MODEL[@]}" "${BANDS_ARG[@]}" \
  -o "$OUT/peak_table.md"
# densnet lammps md checked each replica as it finished (check-md's default limits): exit 1 if one failed
cp "$OUT/md/stability.json" "$OUT/stability.json"
$BIN/python -c "import json, sys; r = json.load(open(sys.argv[1])); sys.exit(0 if r and all(x['ok'] for x in r) else 1)" \
  "$OUT/stability.json"
echo "IR validation finished: $OUT/ir.png, $OUT/peak_table.md, $OUT/stability.json"

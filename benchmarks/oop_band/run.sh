#!/usr/bin/env bash
# The inner-ring C-H out-of-plane band studies (issue 7): densnet's harmonic spectrum of 3T from each finished
# study model (runs/oop_band/NAME/model.ckpt, trained by `densnet train benchmarks/oop_band/NAME.yaml`) against
# the DFT harmonic spectrum of 3T and model_stable's -> benchmarks/oop_band/bands_3T.md. From the repository root:
#   bash benchmarks/oop_band/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$PWD/.venv/bin
B=benchmarks/oop_band
P=examples/polythiophene
specs=("model_stable=harmonic_model/3T_sticks.csv")  # paths as seen from $P
for y in "$B"/*.yaml; do
  name=$(basename "$y" .yaml)
  ckpt=runs/oop_band/$name/model.ckpt
  [ -f "$ckpt" ] || { echo "skip $name: no $ckpt"; continue; }
  if [ ! -f "$B/${name}_3T_sticks.csv" ] || [ "$ckpt" -nt "$B/${name}_3T_sticks.csv" ]; then
    $BIN/densnet harmonic "$ckpt" $P/3T.xyz -o "$B/${name}_3T_sticks.csv" > /dev/null
  fi
  specs+=("$name=../../$B/${name}_3T_sticks.csv")
done
cd $P
$BIN/python band_convergence.py --reference "DFT 3T=data/harmonic/3T_dft_sticks.csv" "${specs[@]}" \
  --made-by benchmarks/oop_band/run.sh --title "The inner-ring C-H out-of-plane band of 3T: study models" \
  -o ../../$B/bands_3T.md > /dev/null
cat ../../$B/bands_3T.md

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
{  # the inner-ring C-H out-of-plane band itself: the strongest stick between 740 and 800 cm^-1 of each spectrum
  printf '\nThe inner-ring C-H out-of-plane band: the strongest stick between 740 and 800 cm^-1 (DFT 3T: 775.5).\n\n'
  printf '| spectrum | cm^-1 | km/mol |\n|---|---|---|\n'
  for spec in "DFT 3T=data/harmonic/3T_dft_sticks.csv" "${specs[@]}"; do
    awk -F, -v name="${spec%%=*}" 'NR > 1 && $1 > 740 && $1 < 800 && $2 > m {m = $2; w = $1}
      END {printf "| %s | %.1f | %.1f |\n", name, w, m}' "${spec#*=}"
  done
} >> ../../$B/bands_3T.md
cat ../../$B/bands_3T.md

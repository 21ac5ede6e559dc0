#!/usr/bin/env bash
# How the IR bands of oligothiophene move with chain length (issue 7: the 12T MD spectrum is compared with the
# DFT harmonic spectrum of the longest affordable oligomer, "the spectra converge by about six rings"):
# densnet's harmonic spectra (model_stable; other models below) of 1T..6T, 8T and 10T -> harmonic_model/nT_sticks.csv
# (+ nT_opt.xyz),
# then a table (band_convergence.py): each strong band of densnet's 12T harmonic spectrum (ir/sticks_model_0.csv,
# made by run_md.sh's IR validation) and the nearest band of every other spectrum, densnet and DFT
# (data/harmonic/nT_dft_sticks.csv, make_harmonic.sh) -> ../../benchmarks/polythiophene_bands.md.
# Resumable: finished spectra are kept.   bash examples/polythiophene/make_band_convergence.sh
# Another model: CKPT (model_stable/model.ckpt), HARMONIC_DIR (harmonic_model), REFERENCE (its 12T harmonic sticks,
# ir/sticks_model_0.csv) and OUT (../../benchmarks/polythiophene_bands.md), paths from examples/polythiophene/; the
# MD model model_l3:  CKPT=model_l3/model.ckpt HARMONIC_DIR=harmonic_model_l3 REFERENCE=ir_l3/sticks_model_0.csv \
#                     OUT=../../benchmarks/polythiophene_bands_l3.md bash examples/polythiophene/make_band_convergence.sh
set -euo pipefail
cd "$(dirname "$0")"
D=../../.venv/bin
: "${CKPT:=model_stable/model.ckpt}" "${HARMONIC_DIR:=harmonic_model}" "${REFERENCE:=ir/sticks_model_0.csv}"
: "${OUT:=../../benchmarks/polythiophene_bands.md}"
H=$HARMONIC_DIR
mkdir -p "$H"
specs=()
for n in 1 2 3 4 5 6 8 10; do
  if [ ! -f "$H/${n}T_sticks.csv" ]; then
    $D/densnet harmonic "$CKPT" "${n}T.xyz" -o "$H/tmp.csv" --write-optimised "$H/${n}T_opt.xyz" > "$H/${n}T.log"
    mv "$H/tmp.csv" "$H/${n}T_sticks.csv"
  fi
  specs+=("densnet ${n}T=$H/${n}T_sticks.csv")
done
for f in data/harmonic/*T_dft_sticks.csv; do
  n=$(basename "$f" _dft_sticks.csv)
  specs+=("DFT ${n}=$f")
done
[ -f "$REFERENCE" ] || { echo "no $REFERENCE yet: run run_md.sh (its IR validation computes densnet's 12T harmonic spectrum)"; exit 1; }
out=$OUT
$D/python band_convergence.py --reference "densnet 12T=$REFERENCE" "${specs[@]}" -o $out
{  # the issue's two named bands by window: the strongest stick there (the table above takes the nearest band,
   # which can be a weak one of another mode)
  printf '\nThe two bands the issue names: the strongest stick of each spectrum in 740-800 cm^-1 (inner-ring C-H '
  printf 'out-of-plane) and in 1440-1520 cm^-1 (ring stretch; labelled C-C-H bend or C-C stretch).\n\n'
  printf '| spectrum | C-H out-of-plane (cm^-1) | km/mol | ring stretch (cm^-1) | km/mol |\n|---|---|---|---|---|\n'
  for spec in "densnet 12T=$REFERENCE" "${specs[@]}"; do
    awk -F, -v name="${spec%%=*}" 'NR > 1 && $1 > 740 && $1 < 800 && $2 > m {m = $2; w = $1}
      NR > 1 && $1 > 1440 && $1 < 1520 && $2 > m2 {m2 = $2; w2 = $1}
      END {if (m > 0) printf "| %s | %.1f | %.1f |", name, w, m; else printf "| %s | - | - |", name
           printf " %.1f | %.1f |\n", w2, m2}' "${spec#*=}"
  done
} >> $out

#!/usr/bin/env bash
# LAMMPS runs of the polythiophene model (issue 7, item 4), from the repository root:
#   8T, 10T: REPLICAS NVE replicas at 300 K (Langevin equilibration first), each checked as it finishes as
#            densnet check-md does (bonds kept, no ring opening, no close contact, energy drift):
#            MD_DIR/nT/replica-NN/check.json, joined in examples/polythiophene/MD_DIR/nT/stability.json
#   12T:     the same through ../ir_validation.sh -> IR spectrum from the dumped dipoles, peak table against the DFT
#            harmonic reference of the longest computed oligomer (data/harmonic/${REF}_dft_*, make_harmonic.sh)
#            and densnet's own harmonic spectrum of 12T: examples/polythiophene/IR_DIR/ (before that reference exists,
#            only the replicas run, into IR_DIR/md/; re-run after make_harmonic.sh for the spectrum and the table)
# Exit status 1 if a stability check failed (every length still runs). Resumable: re-run the same command
# (finished replicas are skipped, unfinished ones continue from restarts).
# The MD model model_l3 (ir/ and md/ hold the runs of the earlier model_stable):
#   CKPT=examples/polythiophene/model_l3/model.ckpt REF=4T IR_DIR=ir_l3 MD_DIR=md_l3 \
#     bash examples/polythiophene/run_md.sh
# Optional: IR_DIR (ir) and MD_DIR (md): the output folders under examples/polythiophene/ (12T and 8T/10T),
# REPLICAS (4), PRODUCTION (25ps per replica: 100 ps per chain length), EQUILIBRATE (2ps: 20 damping times of the
# 100 fs Langevin bath), PARALLEL (2), LENGTHS ("8 10 12").
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=.venv/bin
P=examples/polythiophene
: "${CKPT:?set CKPT}" "${REF:?set REF (e.g. 4T: the longest oligomer with data/harmonic/REF_dft_sticks.csv)}"
R=${REPLICAS:-4} PROD=${PRODUCTION:-25ps} EQ=${EQUILIBRATE:-2ps} PAR=${PARALLEL:-2}
IR=$P/${IR_DIR:-ir} MD=$P/${MD_DIR:-md}
mkdir -p "$MD"
$BIN/densnet-export "$CKPT" -o "$MD/model.pt"
for n in ${LENGTHS:-8 10 12}; do
  if [ "$n" = 12 ] && [ ! -f "$P/data/harmonic/${REF}_dft_sticks.csv" ]; then  # the replicas of ir_validation.sh
    mkdir -p "$IR"
    $BIN/densnet-export "$CKPT" -o "$IR/model.pt"
    $BIN/densnet lammps md "$IR/model.pt" "$P/12T.xyz" -o "$IR/md" --replicas "$R" --parallel "$PAR" \
      --temperature 300 --equilibrate "$EQ" --production "$PROD" --plugin "$($BIN/densnet lammps build)"
    echo "12T replicas finished; the IR comparison waits for $P/data/harmonic/${REF}_dft_sticks.csv"
    continue
  fi
  if [ "$n" = 12 ]; then
    CKPT=$CKPT START=$P/12T.xyz OUT=$IR REPLICAS=$R PRODUCTION=$PROD EQUILIBRATE=$EQ PARALLEL=$PAR \
      REFS="$P/data/harmonic/${REF}_dft_opt.xyz:$P/data/harmonic/${REF}_dft_sticks.csv:1" \
      MODEL_STRUCTURES="$P/12T.xyz:1" bash examples/ir_validation.sh
    continue
  fi
  out=$MD/${n}T
  $BIN/densnet lammps md "$MD/model.pt" "$P/${n}T.xyz" -o "$out" --replicas "$R" --parallel "$PAR" \
    --temperature 300 --equilibrate "$EQ" --production "$PROD" --plugin "$($BIN/densnet lammps build)"
  # densnet lammps md checked each replica as it finished (check-md's default limits) into $out/stability.json
  $BIN/python -c "import json, sys; r = json.load(open(sys.argv[1])); sys.exit(0 if r and all(x['ok'] for x in r) else 1)" \
    "$out/stability.json" || status=1  # report, go on to the next length
done
exit "${status:-0}"

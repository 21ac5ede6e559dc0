#!/usr/bin/env bash
# The issue-7 polythiophene models, from the labelled data of make_data.sh (and make_extrapolation.sh):
#   1. density targets refitted to even-tempered-1.7 (`densnet refit`, no DFT) for every file of model_stable.yaml
#      (a superset of model.yaml's) and every finished held-out set data/nT_extrap.h5 (n = 8, 10, 12)
#   2. benchmarks/accuracy.py: densnet (model.yaml) and MACE on the same split and budget, evaluated on the test
#      split and the held-out 8T/10T/12T sets that are labelled -> benchmarks/polythiophene.md (+ .json,
#      _curves.png); work directory benchmarks/accuracy_work/polythiophene/
#   3. model/: that run's densnet model (best validation weights), exported (model.pt), test-split metrics
#   4. model_stable/ and model_l3/: the fine-tunes of model/'s energy network in model_stable.yaml and model_l3.yaml
#      (model_l3: the MD model), exported, and their metrics on each held-out set (`densnet evaluate ... --split
#      all`: model_*/heldout_nT.json) and on model.yaml's test split (model_*/test_metrics.json; its 6T frames:
#      test_6T.json); model_l3 per chain length (test split of 1T..6T, held-out 8T..12T, ratio to 6T):
#      benchmarks/polythiophene_extrapolation.py -> benchmarks/polythiophene_extrapolation.md
#   5. the learning-curve point: the accuracy run again with densnet on half the training frames
#      (model_half.yaml, `--densnet-variant half`; nothing else is retrained), report rewritten; LEARNING_CURVE=0
#      stops before it (reproduce.sh runs it next to the first LAMMPS runs: it keeps only one core busy)
# Resumable: re-run the same command (every step skips or continues finished work). Held-out sets labelled later
# are added by re-running it: nothing is retrained, the new sets are evaluated and the report rewritten.
#   bash examples/polythiophene/make_model.sh          (PARALLEL=0: densnet and MACE one after the other)
set -euo pipefail
cd "$(dirname "$0")"
BIN=$(cd ../.. && pwd)/.venv/bin
P=examples/polythiophene

yaml_data() {  # the data files listed in a training YAML, one per line
  $BIN/python -c "import sys, yaml; print('\n'.join(yaml.safe_load(open(sys.argv[1]))['data']))" "$1"
}

refit() {  # refit data/X_etb17.h5 from data/X.h5 unless done (an unfinished refit continues)
  [ -f "$1" ] || $BIN/densnet refit "${1%_etb17.h5}.h5" -o "$1" --density-basis even-tempered-1.7 -q
}

for f in $(yaml_data model_stable.yaml); do refit "$f"; done
HELDOUT=()
for n in 8 10 12; do
  if [ -f data/${n}T_extrap_label_summary.json ]; then
    refit data/${n}T_extrap_etb17.h5
    HELDOUT+=(--heldout "${n}T=$P/data/${n}T_extrap_etb17.h5")
  fi
done
TRAIN=$(yaml_data model.yaml | sed "s|^|$P/|" | paste -sd,)
PAR=()
[ "${PARALLEL:-1}" = 1 ] && PAR=(--parallel)

accuracy() {  # accuracy [--densnet-variant ...]: the accuracy run of the repository root
  $BIN/python benchmarks/accuracy.py "polythiophene=$TRAIN" "${HELDOUT[@]}" --budget full "${PAR[@]}" \
    --densnet-config $P/model.yaml --workdir benchmarks/accuracy_work --out benchmarks/polythiophene.md "$@"
}

cd ../..
accuracy

RUN=benchmarks/accuracy_work/polythiophene/densnet
mkdir -p $P/model
for f in model.ckpt last.ckpt log.csv; do
  cmp -s $RUN/$f $P/model/$f || cp $RUN/$f $P/model/$f
done
# test-split metrics: the accuracy run's `densnet evaluate MODEL DATA... --split test --json` of this model
cmp -s $RUN/../densnet_test.json $P/model/test_metrics.json || cp $RUN/../densnet_test.json $P/model/test_metrics.json
[ $P/model/model.pt -nt $P/model/model.ckpt ] || $BIN/densnet-export $P/model/model.ckpt -o $P/model/model.pt

cd $P
for m in model_stable model_l3; do  # energy-network fine-tunes of model/ (model_l3: the MD model)
  RESUME=()  # continue (or find finished: a no-op) a fine-tune of this model/; start afresh after a new model/
  [ -f $m/last.ckpt ] && [ ! model/model.ckpt -nt $m/last.ckpt ] && RESUME=(--resume)
  $BIN/densnet train $m.yaml "${RESUME[@]}" -q
  [ $m/model.pt -nt $m/model.ckpt ] || $BIN/densnet-export $m/model.ckpt -o $m/model.pt
  for n in 8 10 12; do  # on the held-out sets too (the report above evaluates model/)
    j=$m/heldout_${n}T.json
    if [ -f data/${n}T_extrap_label_summary.json ] && [ ! "$j" -nt $m/model.ckpt ]; then
      $BIN/densnet evaluate $m/model.ckpt data/${n}T_extrap_etb17.h5 --split all --json "$j" -q
    fi
  done
  # the in-distribution side: model.yaml's test split, and its 6T part alone (the extrapolation ratio's base)
  [ $m/test_6T.json -nt $m/model.ckpt ] ||
    $BIN/densnet evaluate $m/model.ckpt data/6T_a_etb17.h5 --split test --json $m/test_6T.json -q
  [ $m/test_metrics.json -nt $m/model.ckpt ] ||
    $BIN/densnet evaluate $m/model.ckpt $(yaml_data model.yaml) --split test --json $m/test_metrics.json -q
done

cd ../..
# the MD model per chain length, in distribution (test_nT.json, 1T..6T) and extrapolated (heldout_nT.json)
$BIN/python benchmarks/polythiophene_extrapolation.py $P/model_l3 -o benchmarks/polythiophene_extrapolation.md -q
[ "${LEARNING_CURVE:-1}" = 1 ] || exit 0
accuracy --densnet-variant half=$P/model_half.yaml
echo "make_model.sh finished: $P/model/, $P/model_stable/, $P/model_l3/, benchmarks/polythiophene.md"

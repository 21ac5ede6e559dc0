#!/usr/bin/env bash
# The whole polythiophene validation (issue 7) in order; every step is resumable, so after a kill (or the end of
# a machine session) the same command continues where it stopped. From the repository root:
#   mkdir -p runs; (nohup nice -n 10 bash examples/polythiophene/reproduce.sh > runs/polythiophene.log 2>&1 &)
# Steps (each script's header has the details):
#   1. make_data.sh            DFT training data 1T..6T (round a) and the train-only frames
#   2. make_model.sh           refits, accuracy run (densnet vs MACE), model/, model_stable/, model_l3/ (MD model)
#   3. make_extrapolation.sh   held-out DFT single points of 12T (one process) and 8T, 10T (the other); the
#                              extrapolation test comes before the MD: a model that fails it would be retrained
#   4. on one core: run_md.sh LENGTHS="8 10 12", LAMMPS replicas of model_l3 with the stability check (12T: the
#      replicas only) into md_l3/ and ir_l3/ (ir/ and md/ hold the earlier runs of model_stable);
#      on the other: make_model.sh again (held-out sets evaluated, learning-curve point: half the frames), then
#      make_harmonic.sh (DFT harmonic IR references of 1T..MAX_RINGS, one PySCF thread)
#   5. make_harmonic.sh        what is left of the references, two threads
#   6. run_md.sh LENGTHS=12    the 12T IR from the dumped dipoles against the longest DFT reference (ir_l3/);
#      make_band_convergence.sh  the bands against chain length (densnet harmonic 1T..12T, DFT 1T..MAX_RINGS)
#   7. benchmarks/lammps_speed.py, lammps_memory.py with model_l3 (1, 8, 64 chains of 12T; 1 and 2 ranks)
# Env: WORKERS (2; DFT labelling processes), MAX_RINGS (4), and those of the scripts (REPLICAS, PRODUCTION, ...).
set -euo pipefail
cd "$(dirname "$0")"
P=examples/polythiophene
MAX=${MAX_RINGS:-4}
export WORKERS=${WORKERS:-2}
step() { echo "[reproduce] $(date -u +%FT%TZ) $*"; }

step "1 data";              bash make_data.sh
step "2 models";            LEARNING_CURVE=0 bash make_model.sh
step "3 held-out points";   bash make_extrapolation.sh
CKPT=$P/model_l3/model.ckpt
export IR_DIR=ir_l3 MD_DIR=md_l3
status=0  # an unstable trajectory is reported (exit status 1 at the end), the other steps still run
step "4 MD 8T 10T 12T | held-out evaluation, learning curve, DFT harmonic"
(cd ../.. && CKPT=$CKPT REF=${MAX}T LENGTHS="8 10 12" PARALLEL=1 bash $P/run_md.sh) & md=$!
bash make_model.sh
MAX_RINGS=$MAX THREADS=1 bash make_harmonic.sh
wait $md || status=1
step "5 DFT harmonic";      MAX_RINGS=$MAX THREADS=2 bash make_harmonic.sh
step "6 12T IR";            (cd ../.. && CKPT=$CKPT REF=${MAX}T LENGTHS=12 bash $P/run_md.sh) || status=1
CKPT=model_l3/model.ckpt HARMONIC_DIR=harmonic_model_l3 REFERENCE=ir_l3/sticks_model_0.csv \
  OUT=../../benchmarks/polythiophene_bands_l3.md bash make_band_convergence.sh
cd ../..
if [ ! benchmarks/lammps_memory.md -nt $CKPT ]; then  # measured once per model
  step "7 LAMMPS speed";    .venv/bin/python benchmarks/lammps_speed.py benchmarks/lammps_speed_thiophene.md \
                              --systems thiophene --checkpoint $CKPT
  .venv/bin/python benchmarks/lammps_memory.py benchmarks/lammps_memory.md --checkpoint $CKPT
fi
step "finished (status $status): benchmarks/polythiophene.md, $P/md_l3/*/stability.json, $P/ir_l3/, benchmarks/lammps_*.md"
exit $status

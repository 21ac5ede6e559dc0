#!/usr/bin/env bash
# The densnet demo on a fresh clone (run by `make demo`): thermal sampling and DFT labelling of water.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=demo-output
mkdir -p "$OUT"
$BIN/python - <<'PY'
from ase.build import molecule
import ase.io
ase.io.write("demo-output/water.xyz", molecule("H2O"))
PY
$BIN/densnet sample "$OUT/water.xyz" -o "$OUT/frames.extxyz" --temperature 300 --frames 8 --method normal-modes --seed 1
$BIN/densnet label "$OUT/frames.extxyz" -o "$OUT/water.h5" --chunk-size 4
$BIN/densnet info "$OUT/water.h5"
$BIN/densnet convert "$OUT/water.h5" -o "$OUT/water.extxyz"
echo "demo finished: dataset in $OUT/water.h5 (ASE-readable copy: $OUT/water.extxyz)"

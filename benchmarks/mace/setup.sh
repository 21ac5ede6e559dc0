#!/usr/bin/env bash
# Create .venv-mace: MACE (mace-torch) in its own virtual environment, beside densnet's .venv.
#
#   bash benchmarks/mace/setup.sh            (or: make mace-env)
#
# Why a separate venv: mace-torch 0.3.16 pins e3nn==0.4.4, densnet needs e3nn 0.6.
# torch==2.13.0 is installed FIRST, alone: it is the CPU wheel on this machine's disk. Any other torch
# version (what pip picks if mace-torch is installed into an empty venv) is a CUDA build of several GB.
# The second step repeats torch==2.13.0 so pip can never replace it; `pip install --dry-run
# mace-torch==0.3.16` on top of torch 2.13.0 installs no other torch (checked 2026-11-22).
# Measured here (2 cores, load ~4): step 1 84 s wall, step 2 80 s wall; 1.4 GB on disk.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python3}
VENV=${VENV:-.venv-mace}
TORCH=torch==2.13.0
MACE=mace-torch==0.3.16
start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "$TORCH"
"$VENV/bin/pip" install -q "$TORCH" "$MACE"
"$VENV/bin/python" - <<'PYEOF'
import e3nn
import mace
import torch

assert torch.__version__.startswith("2.13.0"), f"torch {torch.__version__}: expected the 2.13.0 CPU wheel"
print(f"mace-torch {mace.__version__}, torch {torch.__version__}, e3nn {e3nn.__version__}")
PYEOF
echo "$VENV ready in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# DFT harmonic IR references at the reference level, resumably (densnet harmonic --dft --workdir: restartable
# optimisation, then the analytic Hessian and dipole derivatives, kept once computed; METHOD=fd: 6N displaced SCF
# gradients + dipoles labelled like densnet label, resumable within the Hessian). For each NAME=STRUCTURE,
# writes OUTDIR/NAME_sticks.csv (wavenumber_cm-1, intensity_km/mol, mode) and OUTDIR/NAME_opt.xyz (the optimised
# minimum, energy in its comment line); work files in OUTDIR/NAME_work. Re-run the same command to continue;
# finished spectra are skipped. Paths are relative to the caller's directory.
#   bash examples/make_dft_harmonic.sh OUTDIR NAME=STRUCTURE [NAME=STRUCTURE ...]
# Optional: THREADS (1, PySCF threads per process), METHOD (analytic | fd), WORKERS (1: fd's PySCF processes).
set -euo pipefail
D=$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/densnet
out=$1
shift
mkdir -p "$out"
for spec in "$@"; do
  name=${spec%%=*} structure=${spec#*=}
  [ -f "$out/${name}_sticks.csv" ] && continue
  $D harmonic --dft "$structure" -o "$out/tmp_${name}.csv" --write-optimised "$out/${name}_opt.xyz" --fmax 5e-3 \
    --workdir "$out/${name}_work" --method "${METHOD:-analytic}" --workers "${WORKERS:-1}" --threads "${THREADS:-1}"
  mv "$out/tmp_${name}.csv" "$out/${name}_sticks.csv"
done

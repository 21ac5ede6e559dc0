#!/usr/bin/env bash
# DFT harmonic IR references of resorcinol's three OH rotamers at the reference level (PBE/def2-SVP), from the
# GFN2-xTB minima start_{in-in,in-out,out-out}.xyz, re-optimised to 5e-3 eV/A, by the resumable path of
# ../make_dft_harmonic.sh (optimisation, then 6N displaced DFT gradients; about 90 SCF + gradient calculations
# per rotamer). Writes ../spectra/resorcinol_<rotamer>_pbe_def2svp_{sticks.csv,opt.xyz}; work folders
# ../spectra/resorcinol_<rotamer>_pbe_def2svp_work/ in between. Re-run to continue.
#   bash examples/resorcinol/make_harmonic.sh            (WORKERS=2: two PySCF processes)
set -euo pipefail
cd "$(dirname "$0")"
exec bash ../make_dft_harmonic.sh ../spectra resorcinol_in-out_pbe_def2svp=start_in-out.xyz \
  resorcinol_in-in_pbe_def2svp=start_in-in.xyz resorcinol_out-out_pbe_def2svp=start_out-out.xyz

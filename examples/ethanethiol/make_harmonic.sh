#!/usr/bin/env bash
# DFT harmonic IR references of ethanethiol's trans and gauche conformers at the reference level (PBE/def2-SVP),
# from the GFN2-xTB minima start_trans.xyz / start_gplus.xyz (gauche- is the mirror image of gauche+: the same
# spectrum), re-optimised to 5e-3 eV/A, by the resumable path of ../make_dft_harmonic.sh. Writes
# ../spectra/ethanethiol_{trans,gauche}_pbe_def2svp_{sticks.csv,opt.xyz}. Re-run to continue.
#   bash examples/ethanethiol/make_harmonic.sh
set -euo pipefail
cd "$(dirname "$0")"
exec bash ../make_dft_harmonic.sh ../spectra ethanethiol_trans_pbe_def2svp=start_trans.xyz \
  ethanethiol_gauche_pbe_def2svp=start_gplus.xyz

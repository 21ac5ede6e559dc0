"""Relative energies of resorcinol rotamer minima, from extended-XYZ files with an ``energy=`` (eV) comment key.

The files are DFT minima (``examples/spectra/resorcinol_<rotamer>_pbe_def2svp_opt.xyz``) or a model's minima written
by ``densnet harmonic --write-optimised``; each file's rotamer is recomputed from its geometry
(``check_frames.conformer``) and its energy printed relative to the first file, in meV. Usage (repository root):
    python examples/resorcinol/rotamer_energies.py \
        examples/spectra/resorcinol_{in-out,in-in,out-out}_pbe_def2svp_opt.xyz
"""

import sys

import ase.io
from check_frames import conformer


def main() -> None:
    first = None
    for path in sys.argv[1:]:
        atoms = ase.io.read(path)
        e = float(atoms.info["energy"]) if "energy" in atoms.info else atoms.get_potential_energy()
        first = e if first is None else first
        print(f"{path}: {conformer(atoms)}  E - E(first) = {1e3 * (e - first):+.1f} meV")


if __name__ == "__main__":
    main()

"""CPU-time split of one labelled frame: grid build, SCF, gradient, constrained density fit (1 thread).

Usage: OMP_NUM_THREADS=1 python benchmarks/label_profile.py STRUCTURE.xyz
Prints process (CPU) seconds per stage, the number of grid points and of orbital basis functions.
"""

from __future__ import annotations

import sys
import time

import ase.io


def main() -> None:
    from pyscf import dft, lib

    from densnet.basis import resolve_basis
    from densnet.dft import LevelOfTheory, density_fit_coefficients, make_mol

    lib.num_threads(1)
    atoms = ase.io.read(sys.argv[1])
    lot = LevelOfTheory()
    mol = make_mol(atoms.numbers, atoms.positions, lot.basis)
    mf = dft.RKS(mol, xc=lot.xc).density_fit(auxbasis=lot.auxbasis)
    mf.grids.level = lot.grid_level
    mf.conv_tol = lot.conv_tol
    pt = time.process_time
    t = pt()
    mf.grids.build()
    print("grids", pt() - t, mf.grids.weights.size, "nao", mol.nao, flush=True)
    t = pt()
    mf.kernel()
    print("scf", pt() - t, mf.cycles, flush=True)
    t = pt()
    mf.nuc_grad_method().kernel()
    print("grad", pt() - t, flush=True)
    basis = resolve_basis(lot.density_basis, sorted(set(atoms.get_chemical_symbols())))
    t = pt()
    density_fit_coefficients(mol, make_mol(atoms.numbers, atoms.positions, basis), mf.make_rdm1())
    print("fit", pt() - t, flush=True)


if __name__ == "__main__":
    main()

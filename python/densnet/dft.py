"""PySCF reference calculations: one labelled frame, free-atom (SAD) densities and energies.

All inputs in Angstrom; outputs converted with ``ase.units`` to eV, eV/A and e*A. Density coefficients are
in the density basis (see :mod:`densnet.basis` for the ordering) and are dimensionless electron counts per
normalised basis function.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
from ase import units

from .basis import one_centre_moments

BOHR = units.Bohr  # A per bohr
HARTREE = units.Hartree  # eV per hartree

#: Ground-state spin multiplicity - 1 (= 2S) of free atoms, for the free-atom reference energies.
ATOM_SPIN = {"H": 1, "He": 0, "Li": 1, "Be": 0, "B": 1, "C": 2, "N": 3, "O": 2, "F": 1, "Ne": 0,
             "Na": 1, "Mg": 0, "Al": 1, "Si": 2, "P": 3, "S": 2, "Cl": 1, "Ar": 0}


class SCFNotConverged(RuntimeError):
    """The SCF did not converge even with the stabilised settings."""


@dataclass(frozen=True)
class LevelOfTheory:
    """Settings of the reference calculation (defaults: DESIGN.md's reference level)."""

    xc: str = "pbe"
    basis: str = "def2-svp"
    auxbasis: str = "def2-universal-jfit"
    density_basis: str = "def2-universal-jfit"
    grid_level: int = 3
    conv_tol: float = 1e-10
    charge: int = 0
    max_cycle: int = 100  # SCF cycles per attempt (Newton: macro-iterations; the damped retry gets 3x)

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return f"RKS {self.xc.upper()}/{self.basis}, J fit {self.auxbasis}, grids level {self.grid_level}"


def make_mol(numbers: np.ndarray, positions: np.ndarray, basis, charge: int = 0, spin: int = 0):
    """PySCF ``Mole`` from atomic numbers [N] and positions [N, 3] in Angstrom."""
    from pyscf import gto

    atom = [(int(z), tuple(float(x) for x in p)) for z, p in zip(numbers, positions, strict=True)]
    return gto.M(atom=atom, basis=basis, unit="Angstrom", charge=charge, spin=spin, verbose=0)


def _rks(mol, lot: LevelOfTheory):
    from pyscf import dft

    mf = dft.RKS(mol, xc=lot.xc).density_fit(auxbasis=lot.auxbasis)
    mf.grids.level = lot.grid_level
    mf.conv_tol = lot.conv_tol
    mf.max_cycle = lot.max_cycle
    mf.verbose = 0
    return mf


def run_scf(mol, lot: LevelOfTheory, dm0: np.ndarray | None = None):
    """Converged RKS object: plain DIIS, then Newton from where DIIS stopped, then damped level-shifted DIIS.

    A DIIS run that stalls (small gaps: long conjugated chains) usually ends near the solution, where second-order
    SCF converges in a few macro-iterations; the damped restart from scratch (3x the cycles) comes last.
    Returns ``(mf, attempt)``, attempt = the method that converged: 0 plain DIIS, 1 damped, 2 Newton.
    Raises :class:`SCFNotConverged`.
    """
    mf = _rks(mol, lot)
    if dm0 is not None and dm0.shape != (mol.nao, mol.nao):
        dm0 = None
    mf.kernel(dm0=dm0)
    if mf.converged:
        return mf, 0
    newton = _rks(mol, lot).newton()
    newton.max_cycle = lot.max_cycle
    newton.kernel(dm0=mf.make_rdm1())
    if newton.converged:
        return newton, 2
    mf = _rks(mol, lot)
    mf.level_shift = 0.3
    mf.damp = 0.5
    mf.diis_start_cycle = 8
    mf.max_cycle = 3 * lot.max_cycle
    mf.kernel(dm0=None)
    if mf.converged:
        # polish without level shift so the energy is the true stationary point
        mf2 = _rks(mol, lot)
        mf2.kernel(dm0=mf.make_rdm1())
        if mf2.converged:
            return mf2, 1
    raise SCFNotConverged(f"SCF not converged after DIIS, Newton and damped level-shifted DIIS (last E={mf.e_tot})")


def density_fit_coefficients(mol, auxmol, dm: np.ndarray, constrain: bool = True,
                             block_mb: float = 200.0,
                             targets: tuple[float, np.ndarray] | None = None) -> np.ndarray:
    """Coulomb-metric fit of the density of ``dm`` (AO basis of ``mol``) onto ``auxmol``'s functions.

    Minimises (rho - rho_fit | rho - rho_fit). With ``constrain`` the fit is exact in the electron count
    and in the electronic first moment (hence the dipole) via Lagrange multipliers; the constraint values
    come from ``dm`` unless ``targets = (n_electrons, first_moment [3] in e*bohr)`` is given (e.g. exact
    values when ``dm`` was stored in float32). Returns c [naux].
    """
    import scipy.linalg
    from pyscf import lib
    from pyscf.df import incore

    j2c = auxmol.intor("int2c2e")
    dm_sym = 0.5 * (dm + dm.T)
    dm_tril = lib.pack_tril(2 * dm_sym - np.diag(np.diag(dm_sym)))
    naux = auxmol.nao_nr()
    b = np.empty(naux)
    npair = dm_tril.size
    max_cols = max(1, int(block_mb * 1e6 / 8 / npair))
    ao_loc = auxmol.ao_loc_nr()
    sh0 = 0
    while sh0 < auxmol.nbas:
        sh1 = sh0 + 1
        while sh1 < auxmol.nbas and ao_loc[sh1 + 1] - ao_loc[sh0] <= max_cols:
            sh1 += 1
        j3c = incore.aux_e2(mol, auxmol, "int3c2e", aosym="s2ij",
                            shls_slice=(0, mol.nbas, 0, mol.nbas, sh0, sh1))
        b[ao_loc[sh0] : ao_loc[sh1]] = dm_tril @ j3c
        sh0 = sh1
    cho = scipy.linalg.cho_factor(j2c)
    c = scipy.linalg.cho_solve(cho, b)
    if not constrain:
        return c
    n_aux, d_aux = one_centre_moments(auxmol)
    centres = auxmol.atom_coords()[aux_function_atoms(auxmol)]
    A = np.vstack([n_aux, (n_aux[:, None] * centres + d_aux).T])  # [4, naux]
    if targets is None:
        n_el = float(np.einsum("ij,ji->", dm, mol.intor_symmetric("int1e_ovlp")))
        m_el = np.einsum("xij,ji->x", mol.intor_symmetric("int1e_r"), dm)
    else:
        n_el, m_el = targets
    target = np.concatenate([[n_el], m_el])
    Jinv_At = scipy.linalg.cho_solve(cho, A.T)  # [naux, 4]
    lam = np.linalg.solve(A @ Jinv_At, A @ c - target)
    return c - Jinv_At @ lam


def aux_function_atoms(mol) -> np.ndarray:
    """Atom index of every basis function of ``mol`` [nao]."""
    ao_loc = mol.ao_loc_nr()
    return np.concatenate([np.full(ao_loc[i + 1] - ao_loc[i], mol.bas_atom(i)) for i in range(mol.nbas)])


def label_frame(numbers: np.ndarray, positions: np.ndarray, lot: LevelOfTheory, density_basis: dict,
                dm0: np.ndarray | None = None) -> dict:
    """Label one geometry (positions in A). Returns energies in eV, forces eV/A, dipole e*A, coefficients.

    Keys: energy [], forces [N,3], dipole [3], coeffs [naux], dm [nao,nao] (AO density matrix), n_scf_cycles,
    attempt (0 plain, 1 damped, 2 Newton), seconds.
    """
    t0 = time.perf_counter()
    mol = make_mol(numbers, positions, lot.basis, charge=lot.charge)
    mf, attempt = run_scf(mol, lot, dm0)
    grad = mf.nuc_grad_method()
    grad.verbose = 0
    g = grad.kernel()
    dm = mf.make_rdm1()
    dip_au = mf.dip_moment(unit="AU", verbose=0)
    auxmol = make_mol(numbers, positions, density_basis, charge=lot.charge)
    coeffs = density_fit_coefficients(mol, auxmol, dm, constrain=True)
    return {
        "energy": float(mf.e_tot) * HARTREE,
        "forces": -np.asarray(g) * HARTREE / BOHR,
        "dipole": np.asarray(dip_au) * BOHR,
        "coeffs": coeffs,
        "dm": dm,
        "n_scf_cycles": int(getattr(mf, "cycles", -1)),
        "attempt": attempt,
        "seconds": time.perf_counter() - t0,
    }


def free_atom_data(symbol: str, lot: LevelOfTheory, density_basis: dict) -> dict:
    """Per-element reference data at the same level of theory.

    ``sad_coeffs`` [n_functions]: spherically averaged free-atom density (fractional occupations,
    PySCF ``atom_ks``) fitted onto the element's s functions, constrained to integrate to Z.
    ``energy``: spin-polarised ground-state UKS energy of the free atom (eV).
    """
    import scipy.linalg
    from pyscf import dft, gto
    from pyscf.scf import atom_ks

    z = gto.charge(symbol)
    spin = ATOM_SPIN.get(symbol, z % 2)
    mol = gto.M(atom=f"{symbol} 0 0 0", basis=lot.basis, spin=z % 2, verbose=0)
    atm = atom_ks.get_atm_nrks(mol, xc=lot.xc)[symbol]
    _, _, mo_coeff, mo_occ = atm
    dm = (mo_coeff * mo_occ) @ mo_coeff.T
    auxmol = gto.M(atom=f"{symbol} 0 0 0", basis={symbol: density_basis[symbol]}, spin=z % 2, verbose=0)
    from pyscf.df import incore

    j2c = auxmol.intor("int2c2e")
    j3c = incore.aux_e2(mol, auxmol, "int3c2e")
    b = np.einsum("ijP,ij->P", j3c, dm)
    n_aux, _ = one_centre_moments(auxmol)
    s_idx = np.flatnonzero(_angular_of_functions(auxmol) == 0)
    J = j2c[np.ix_(s_idx, s_idx)]
    cho = scipy.linalg.cho_factor(J)
    c_s = scipy.linalg.cho_solve(cho, b[s_idx])
    a = n_aux[s_idx]
    jinv_a = scipy.linalg.cho_solve(cho, a)
    c_s = c_s - jinv_a * (a @ c_s - z) / (a @ jinv_a)
    sad = np.zeros(auxmol.nao_nr())
    sad[s_idx] = c_s

    mol_u = gto.M(atom=f"{symbol} 0 0 0", basis=lot.basis, spin=spin, verbose=0)
    mf = dft.UKS(mol_u, xc=lot.xc).density_fit(auxbasis=lot.auxbasis)
    mf.grids.level = lot.grid_level
    mf.conv_tol = lot.conv_tol
    mf.verbose = 0
    mf.kernel()
    if not mf.converged:
        mf = mf.newton()
        mf.kernel()
    if not mf.converged:
        raise SCFNotConverged(f"free-atom UKS for {symbol} did not converge")
    return {"sad_coeffs": sad, "energy": float(mf.e_tot) * HARTREE}


def _angular_of_functions(mol) -> np.ndarray:
    ao_loc = mol.ao_loc_nr()
    return np.concatenate([np.full(ao_loc[i + 1] - ao_loc[i], mol.bas_angular(i)) for i in range(mol.nbas)])

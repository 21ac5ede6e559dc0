"""Observables from density coefficients: atomic charges, atomic dipoles, molecular dipoles, density on points.

Coefficients are in PySCF order (densnet.basis); one-centre integrals n (int phi) and d (int (r-R) phi) are in
bohr-based units such that sum c n = electrons and sum c d = electrons * bohr.
"""

from __future__ import annotations

import numpy as np
import torch
from ase import units

BOHR = float(units.Bohr)  # Angstrom per bohr


def atomic_charges(coeffs: torch.Tensor, types: torch.Tensor, z: torch.Tensor, n_int: torch.Tensor) -> torch.Tensor:
    """q_A = Z_A - sum_s c_s n_s [N] (e). coeffs [N, F] padded, z [T], n_int [T, F]."""
    return z.index_select(0, types) - (coeffs * n_int.index_select(0, types)).sum(1)


def atomic_dipoles(coeffs: torch.Tensor, types: torch.Tensor, d_int: torch.Tensor, bohr: float) -> torch.Tensor:
    """p_A = -sum_p c_p d_p [N, 3] (e*A), about each atom's own position. d_int [T, F, 3] in bohr; bohr in A."""
    return -torch.einsum("nf,nfx->nx", coeffs, d_int.index_select(0, types)) * bohr


def molecular_dipole(charges: torch.Tensor, dipoles: torch.Tensor, positions: torch.Tensor,
                     batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """mu_B = sum_{A in B} q_A R_A + p_A [B, 3] (e*A); positions unwrapped (molecules whole)."""
    per_atom = charges.unsqueeze(-1) * positions + dipoles
    return torch.zeros(num_graphs, 3, dtype=per_atom.dtype, device=per_atom.device).index_add(0, batch, per_atom)


def flat_coefficients(coeffs: np.ndarray, types: np.ndarray, n_functions: list[int]) -> np.ndarray:
    """Padded [N, F] -> concatenated PySCF-order vector (what densnet.dataset stores)."""
    return np.concatenate([coeffs[a, : n_functions[t]] for a, t in enumerate(types)])


def padded_coefficients(flat: np.ndarray, types: np.ndarray, n_functions: list[int], f_max: int) -> np.ndarray:
    """Concatenated PySCF-order vector -> padded [N, F]."""
    out = np.zeros((len(types), f_max))
    off = 0
    for a, t in enumerate(types):
        n = n_functions[t]
        out[a, :n] = flat[off : off + n]
        off += n
    if off != len(flat):
        raise ValueError(f"{len(flat)} coefficients given, the basis layout needs {off}")
    return out


def density_mol(numbers: np.ndarray, positions: np.ndarray, density_basis: dict):
    """PySCF Mole carrying the density basis at ``positions`` (A). Spin set so odd electron counts work."""
    from pyscf import gto

    atom = [(int(z), tuple(float(x) for x in p)) for z, p in zip(numbers, positions, strict=True)]
    return gto.M(atom=atom, basis=density_basis, unit="Angstrom", spin=int(np.sum(numbers)) % 2, verbose=0)


def density_on_points(numbers: np.ndarray, positions: np.ndarray, density_basis: dict, flat: np.ndarray,
                      points: np.ndarray, block: int = 20000) -> np.ndarray:
    """rho(points) in e/A^3 from flat coefficients; positions and points in A (not differentiable)."""
    mol = density_mol(numbers, positions, density_basis)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3) / BOHR
    out = np.empty(len(pts))
    for s in range(0, len(pts), block):
        out[s : s + block] = mol.eval_gto("GTOval_sph", pts[s : s + block]) @ flat
    return out / BOHR**3

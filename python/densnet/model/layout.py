"""Per-element density-basis tables for the network: padded layouts, SAD prior, one-centre integrals and the
change of basis between e3nn's real spherical harmonics and PySCF's.

Coefficients leave the network in PySCF order (densnet.basis): for l = 1 the components are (x, y, z), for
l >= 2 real m = -l..l. Inside the network features use e3nn's convention. For every l an orthogonal matrix
M_l with c_pyscf = M_l a_e3nn is found numerically by evaluating both sets of functions on the unit sphere
(PySCF's ``eval_gto`` vs ``e3nn.o3.spherical_harmonics``), so the PySCF rotation matrices are
D_pyscf(R) = M D_e3nn(R) M^T.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from ase.data import atomic_numbers

from ..basis import ElementBasis, element_layout, one_centre_moments


@cache
def pyscf_from_e3nn(l: int) -> np.ndarray:
    """Orthogonal [2l+1, 2l+1] matrix M with c_pyscf = M a_e3nn for one shell of angular momentum l."""
    from e3nn import o3
    from pyscf import gto

    if l == 0:
        return np.ones((1, 1))
    rng = np.random.default_rng(1234)
    pts = rng.normal(size=(200, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    mol = gto.M(atom="He 0 0 0", basis={"He": [[l, [1.0, 1.0]]]}, spin=0, verbose=0, unit="Bohr")
    y_pyscf = mol.eval_gto("GTOval_sph", pts)  # [P, 2l+1], radial part constant on the unit sphere
    y_e3nn = o3.spherical_harmonics(l, torch.as_tensor(pts), normalize=True, normalization="integral").numpy()
    # y_pyscf = y_e3nn @ B^T  ->  a function sum_m c_m Y_pyscf,m = (B^T c) . Y_e3nn
    bt, *_ = np.linalg.lstsq(y_e3nn, y_pyscf, rcond=None)
    b = bt.T
    assert np.allclose(y_e3nn @ b.T, y_pyscf, atol=1e-10), "PySCF and e3nn harmonics do not span the same space"
    scale = np.sqrt(np.mean(np.sum(b * b, axis=1)))
    m = b / scale  # B^{-T} = B / scale^2 for B = scale * orthogonal; the scale is irrelevant
    assert np.allclose(m @ m.T, np.eye(2 * l + 1), atol=1e-10)
    return m


def block_diag_change(layout: ElementBasis) -> np.ndarray:
    """[n_functions, n_functions] block-diagonal M for one element (PySCF <- e3nn)."""
    n = layout.n_functions
    out = np.zeros((n, n))
    off = 0
    for l, nctr in layout.shells:
        d = 2 * l + 1
        for _ in range(nctr):
            out[off : off + d, off : off + d] = pyscf_from_e3nn(l)
            off += d
    return out


@dataclass
class BasisTables:
    """Everything element-specific the model needs, as padded numpy arrays (rows = model types).

    n_functions [T]; irreps [T] (e3nn strings, same layout as PySCF's shells); change [T, F, F] (M, PySCF <-
    e3nn); sad [T, F]; n_int [T, F] (int phi, bohr units so that sum c n = electrons); d_int [T, F, 3]
    (int (r-R) phi, bohr); shell_id [T, F] (index of the shell+contraction a function belongs to, -1 pad);
    l_of [T, F]; z [T].
    """

    elements: list[str]
    n_functions: list[int]
    irreps: list[str]
    change: np.ndarray
    sad: np.ndarray
    n_int: np.ndarray
    d_int: np.ndarray
    shell_id: np.ndarray
    l_of: np.ndarray
    z: np.ndarray

    @property
    def max_functions(self) -> int:
        return int(self.sad.shape[1])

    @property
    def lmax(self) -> int:
        return int(self.l_of.max())


def build_tables(elements: list[str], density_basis: dict, sad_coeffs: dict[str, np.ndarray]) -> BasisTables:
    """Tables for ``elements`` (model type order) from a dataset's density basis and SAD coefficients."""
    from pyscf import gto

    layouts = [element_layout(el, density_basis[el]) for el in elements]
    nf = [lay.n_functions for lay in layouts]
    f_max = max(nf)
    t = len(elements)
    change = np.zeros((t, f_max, f_max))
    sad = np.zeros((t, f_max))
    n_int = np.zeros((t, f_max))
    d_int = np.zeros((t, f_max, 3))
    shell_id = -np.ones((t, f_max), dtype=np.int64)
    l_of = np.zeros((t, f_max), dtype=np.int64)
    for k, (el, lay) in enumerate(zip(elements, layouts, strict=True)):
        n = lay.n_functions
        change[k, :n, :n] = block_diag_change(lay)
        sad_k = np.asarray(sad_coeffs[el], dtype=np.float64)
        if sad_k.shape != (n,):
            raise ValueError(f"SAD coefficients of {el} have shape {sad_k.shape}, basis has {n} functions")
        sad[k, :n] = sad_k
        z = atomic_numbers[el]
        mol = gto.M(atom=f"{el} 0 0 0", basis={el: density_basis[el]}, spin=z % 2, verbose=0)
        n_int[k, :n], d_int[k, :n] = one_centre_moments(mol)
        off, sid = 0, 0
        for l, nctr in lay.shells:
            for _ in range(nctr):
                shell_id[k, off : off + 2 * l + 1] = sid
                l_of[k, off : off + 2 * l + 1] = l
                off += 2 * l + 1
                sid += 1
    z = np.array([atomic_numbers[el] for el in elements], dtype=np.float64)
    return BasisTables(elements=list(elements), n_functions=nf, irreps=[lay.irreps for lay in layouts],
                       change=change, sad=sad, n_int=n_int, d_int=d_int, shell_id=shell_id, l_of=l_of, z=z)


def pyscf_rotation(layout: ElementBasis, d_e3nn_per_l: dict[int, np.ndarray]) -> np.ndarray:
    """Rotation matrix of one element's coefficients in PySCF order from e3nn D matrices {l: D_l(R)}."""
    n = layout.n_functions
    out = np.zeros((n, n))
    off = 0
    for l, nctr in layout.shells:
        d = 2 * l + 1
        m = pyscf_from_e3nn(l)
        for _ in range(nctr):
            out[off : off + d, off : off + d] = m @ d_e3nn_per_l[l] @ m.T
            off += d
    return out

"""Reusable model-test helpers: tiny models, molecules, random orthogonal matrices, PySCF-order D matrices.

Use from any test: ``from tests.model.helpers import ...`` is avoided (tests are not a package); conftest.py
puts this directory on sys.path.
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms
from ase.build import molecule
from e3nn import o3

from densnet.basis import element_layout, resolve_basis
from densnet.model import build_model, build_tables
from densnet.model.layout import pyscf_rotation
from densnet.neighbors import neighbor_graph

TINY = {"cutoff": 3.0, "n_radial": 6, "radial_hidden": 8, "density_layers": 2, "density_scalars": 8,
        "density_vectors": 4, "density_lmax": 2, "density_out_mul": 4, "energy_layers": 1, "energy_scalars": 8,
        "energy_vectors": 4, "energy_lmax": 2, "readout_hidden": 8}


def fake_sad(symbol: str, basis: dict) -> np.ndarray:
    """A valid SAD-like prior: Z electrons in the most diffuse-but-one s function (for random-weight tests)."""
    from pyscf import gto

    from densnet.basis import one_centre_moments

    lay = element_layout(symbol, basis[symbol])
    z = gto.charge(symbol)
    mol = gto.M(atom=f"{symbol} 0 0 0", basis={symbol: basis[symbol]}, spin=z % 2, verbose=0)
    n, _ = one_centre_moments(mol)
    s_idx = np.flatnonzero(n)
    c = np.zeros(lay.n_functions)
    rng = np.random.default_rng(z)
    w = rng.uniform(0.5, 1.0, size=len(s_idx))
    c[s_idx] = w
    return c * z / (c @ n)


def random_model(elements=("H", "C", "O"), config=None, seed=0, dtype=torch.float64,
                 basis_name="def2-universal-jfit"):
    """A DensNet with random weights and non-trivial normalisation, plus its density basis."""
    torch.manual_seed(seed)
    basis = resolve_basis(basis_name, list(elements))
    tables = build_tables(list(elements), basis, {el: fake_sad(el, basis) for el in elements})
    with torch.random.fork_rng():
        torch.set_default_dtype(dtype)
        try:
            model = build_model(tables, {**TINY, **(config or {})}, basis)
        finally:
            torch.set_default_dtype(torch.float32)
    model = model.to(dtype)
    rng = np.random.default_rng(seed)
    scale = np.where(tables.shell_id >= 0, 0.05 + 0.1 * rng.random(tables.sad.shape), 1.0)
    # uniform within a shell so the scale commutes with rotations
    for t in range(len(elements)):
        for s in range(tables.shell_id[t].max() + 1):
            m = tables.shell_id[t] == s
            scale[t, m] = scale[t, m][0]
    model.set_normalisation(scale, rng.normal(size=len(elements)), 0.5)
    return model.eval(), basis, tables


def to_inputs(atoms: Atoms, elements, cutoff: float, dtype=torch.float64):
    """(positions, types, edge_index, edge_shift) tensors for one Atoms object."""
    ei, sh = neighbor_graph(atoms.positions, cutoff, atoms.cell.array, atoms.pbc)
    types = np.array([list(elements).index(s) for s in atoms.get_chemical_symbols()])
    return (torch.tensor(atoms.positions, dtype=dtype), torch.tensor(types), torch.tensor(ei),
            torch.tensor(sh, dtype=dtype))


def random_orthogonal(seed: int, reflect: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return -q if reflect else q


def coeff_rotation(symbols, basis: dict, rot: np.ndarray) -> list[np.ndarray]:
    """Per-atom PySCF-order rotation matrices of density coefficients for the orthogonal matrix ``rot``."""
    d = {}
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn builds its Wigner matrices in the default dtype
    try:
        for l in range(7):
            d[l] = o3.Irrep(l, (-1) ** l).D_from_matrix(torch.as_tensor(rot)).numpy()
    finally:
        torch.set_default_dtype(old)
    return [pyscf_rotation(element_layout(s, basis[s]), d) for s in symbols]


def ethanol() -> Atoms:
    return molecule("CH3CH2OH")


def water() -> Atoms:
    return molecule("H2O")

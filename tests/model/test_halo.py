"""Halo mode (per-stage evaluation with exchanged node states, export/README.md) equals the plain model.

densnet.deploy.halo runs the exported module's halo_* methods over simulated MPI domains, exactly as
``pair_style densnet mode halo`` does with LAMMPS' communication; here it is compared with the module's
forward() on the whole system (tests/lammps checks the C++ side against both)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from helpers import ethanol, random_model

from densnet.deploy.halo import halo_evaluate
from densnet.deploy.metadata import ModelMetadata
from densnet.deploy.reference import evaluate
from densnet.model.contract import ContractModel


def periodic_box(seed: int = 3) -> Atoms:
    """8 ethanols in a 9 A periodic box (cutoff 3 A: each atom sees periodic images of its own domain)."""
    rng = np.random.default_rng(seed)
    mol = ethanol()
    mol.positions -= mol.positions.mean(0)
    out = Atoms(cell=[9.0, 9.0, 9.0], pbc=True)
    for k in range(8):
        m = mol.copy()
        m.rotate(rng.uniform(0, 360), rng.normal(size=3), center=(0, 0, 0))
        m.positions += (np.array([k % 2, (k // 2) % 2, k // 4]) + 0.25) * 4.5 + rng.normal(scale=0.1, size=3)
        out += m
    return out


@pytest.fixture(scope="module", params=["plain", "product-residual"])
def scripted(request):
    config = {"energy_correlation": 2, "energy_residual": True} if request.param == "product-residual" else None
    model, _, _ = random_model(("H", "C", "O"), seed=1, config=config)
    module = torch.jit.script(ContractModel(model).eval())
    md = ModelMetadata(elements=("H", "C", "O"), cutoff=model.cutoff, receptive_field=model.receptive_field)
    return module, md


@pytest.mark.parametrize("n_ranks, recompute", [(1, False), (2, False), (3, False), (2, True)])
def test_halo_stages_over_domains_equal_the_whole_model(scripted, n_ranks, recompute):
    module, md = scripted
    atoms = periodic_box()
    assert len(module.halo_widths()) == md.receptive_field + 1
    ref = evaluate(module, atoms, md)
    frac = atoms.get_scaled_positions(wrap=True)
    owner = np.minimum((frac[:, 0] * n_ranks).astype(int), n_ranks - 1)  # slabs along x
    got = halo_evaluate(module, atoms, owner, md, recompute=recompute)
    for key in ("energy", "forces", "virial", "charges", "atomic_dipoles"):
        scale = max(np.abs(ref[key]).max(), 1e-12)
        assert np.abs(got[key] - ref[key]).max() <= 1e-10 * scale, key
    assert np.abs(ref["forces"]).max() > 1e-3 and np.abs(ref["charges"]).max() > 1e-3  # not vacuous


def test_halo_gas_phase_random_owners(scripted):
    """Arbitrary ownership (not spatial slabs) of a gas-phase molecule is exact too."""
    module, md = scripted
    atoms = ethanol()
    owner = np.random.default_rng(0).integers(0, 3, len(atoms))
    ref = evaluate(module, atoms, md)
    got = halo_evaluate(module, atoms, owner, md)
    for key in ("energy", "forces", "virial", "charges", "atomic_dipoles"):
        np.testing.assert_allclose(got[key], ref[key], rtol=0, atol=1e-10 * max(np.abs(ref[key]).max(), 1e-12))

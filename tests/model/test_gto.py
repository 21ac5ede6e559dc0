"""densnet.gto.GTOValues (torch) equals PySCF's eval_gto("GTOval_sph"), and its exponent gradients are right."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from densnet.basis import resolve_basis
from densnet.gto import GTOValues


def mol_of(basis_name: str):
    from pyscf import gto

    basis = resolve_basis(basis_name, ["O", "H", "C"])
    return gto.M(atom="O 0 0 0; H 0.95 0.1 -0.2; C -0.4 1.3 0.3", basis=basis, spin=1, verbose=0, unit="Angstrom")


@pytest.mark.parametrize("basis_name, learnable", [("def2-universal-jfit", False), ("cc-pvqz-jkfit", False),
                                                   ("even-tempered", True)])
def test_values_equal_pyscf(basis_name, learnable):
    mol = mol_of(basis_name)
    pts = np.random.default_rng(0).normal(scale=1.5, size=(200, 3))
    ref = mol.eval_gto("GTOval_sph", pts)
    got = GTOValues(mol, learnable_exponents=learnable)(torch.tensor(pts), torch.tensor(mol.atom_coords()))
    assert got.shape == ref.shape and max(ir for ir in [mol.bas_angular(b) for b in range(mol.nbas)]) >= 4
    np.testing.assert_allclose(got.detach().numpy(), ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())


def test_exponent_gradient_is_the_finite_difference():
    mol = mol_of("even-tempered")
    g = GTOValues(mol, learnable_exponents=True)
    pts = torch.tensor(np.random.default_rng(1).normal(scale=1.0, size=(50, 3)))
    xyz = torch.tensor(mol.atom_coords())
    w = torch.tensor(np.random.default_rng(2).normal(size=g.nao))
    (grad,) = torch.autograd.grad((g(pts, xyz) @ w).sum(), [g.log_exponents])
    h = 1e-6
    for k in (0, 7, len(grad) - 1):
        with torch.no_grad():
            g.log_exponents[k] += h
            up = (g(pts, xyz) @ w).sum()
            g.log_exponents[k] -= 2 * h
            down = (g(pts, xyz) @ w).sum()
            g.log_exponents[k] += h
        assert float(grad[k]) == pytest.approx(float((up - down) / (2 * h)), rel=1e-6, abs=1e-8)


def test_contracted_shells_cannot_learn_exponents():
    with pytest.raises(ValueError, match="uncontracted"):
        GTOValues(mol_of("def2-universal-jfit"), learnable_exponents=True)

"""Atom-centred Gaussian basis functions evaluated in torch (the same numbers as PySCF's ``GTOval_sph``).

``GTOValues(mol)`` evaluates the contracted real spherical Gaussians of a PySCF ``Mole`` on points, as a torch
function: differentiable with respect to the points, the atom positions and, for uncontracted shells
(even-tempered sets), the exponents (``learnable_exponents=True``: ``log_exponents`` is a parameter and the
primitive normalisation follows the exponent). This is the building block for density-basis values on grid
points on any torch device and for bases with trainable widths (the published method's aug-cc-pVQZ-JKFIT
"with learnable widths"); PySCF's ``eval_gto`` remains the reference (tests/model/test_gto.py).

Conventions (PySCF's): per shell of angular momentum l, the Cartesian monomials x^i y^j z^k (i descending,
then j descending) times sum_p c_p exp(-a_p r^2), turned into the 2l+1 real spherical functions by
``pyscf.gto.cart2sph(l)`` (which includes the s and p normalisation factors); functions ordered shell by shell,
each contracted function's 2l+1 components together. Units: bohr.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def cartesian_powers(l: int) -> list[tuple[int, int, int]]:
    """PySCF's order of the Cartesian monomials of degree ``l``."""
    return [(lx, ly, l - lx - ly) for lx in range(l, -1, -1) for ly in range(l - lx, -1, -1)]


def primitive_norm(l: int, exponent: torch.Tensor) -> torch.Tensor:
    """PySCF's ``gto_norm``: 1 / sqrt(int r^(2l+2) exp(-2 a r^2) dr), differentiable in the exponent."""
    n = 2 * l + 2
    # int_0^inf r^n exp(-2a r^2) dr = Gamma((n+1)/2) / (2 (2a)^((n+1)/2))
    integral = math.gamma((n + 1) / 2) / (2.0 * (2.0 * exponent) ** ((n + 1) / 2))
    return 1.0 / torch.sqrt(integral)


class GTOValues(nn.Module):
    """Values [P, nao] of the basis functions of ``mol`` at points [P, 3] (bohr), atoms at ``coords`` [A, 3]."""

    def __init__(self, mol, learnable_exponents: bool = False, dtype: torch.dtype = torch.float64) -> None:
        from pyscf import gto

        super().__init__()
        self.learnable = learnable_exponents
        self.shell_atom: list[int] = []
        self.shell_l: list[int] = []
        self.shell_nctr: list[int] = []
        exps, coefs = [], []
        for b in range(mol.nbas):
            l = int(mol.bas_angular(b))
            e = np.asarray(mol.bas_exp(b), float)
            c = np.asarray(mol._libcint_ctr_coeff(b), float)  # [nprim, nctr], primitive norms included
            if learnable_exponents and c.shape != (1, 1):
                raise ValueError(f"learnable exponents need uncontracted shells; shell {b} (l={l}) has "
                                 f"{c.shape[0]} primitives x {c.shape[1]} contractions")
            self.shell_atom.append(int(mol.bas_atom(b)))
            self.shell_l.append(l)
            self.shell_nctr.append(c.shape[1])
            exps.append(torch.tensor(e, dtype=dtype))
            coefs.append(torch.tensor(c, dtype=dtype))
        self.coefs = coefs
        if learnable_exponents:
            self.log_exponents = nn.Parameter(torch.log(torch.cat(exps)))
        else:
            self.exponents = exps
        lmax = max(self.shell_l, default=0)
        self.c2s = [torch.tensor(gto.cart2sph(l), dtype=dtype) for l in range(lmax + 1)]
        self.powers = [torch.tensor(cartesian_powers(l), dtype=dtype) for l in range(lmax + 1)]
        self.nao = sum((2 * l + 1) * k for l, k in zip(self.shell_l, self.shell_nctr, strict=True))

    def shell_exponents(self) -> list[torch.Tensor]:
        if not self.learnable:
            return self.exponents
        return list(torch.exp(self.log_exponents).split(1))

    def forward(self, points: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        out = []
        exponents = self.shell_exponents()
        for b, (atom, l) in enumerate(zip(self.shell_atom, self.shell_l, strict=True)):
            d = points - coords[atom]  # [P, 3]
            r2 = (d * d).sum(1, keepdim=True)  # [P, 1]
            a = exponents[b]  # [nprim]
            c = self.coefs[b] if not self.learnable else primitive_norm(l, a).reshape(1, 1)
            radial = torch.exp(-r2 * a) @ c  # [P, nctr]
            mono = torch.prod(d.unsqueeze(1) ** self.powers[l].to(d), dim=2) if l else d.new_ones(len(d), 1)
            ang = mono @ self.c2s[l].to(d)  # [P, 2l+1]
            out.append((radial.unsqueeze(2) * ang.unsqueeze(1)).reshape(len(d), -1))  # contraction-major
        return torch.cat(out, dim=1)

"""Atom-centred Gaussian density bases: resolution, per-element layout and one-centre integrals.

Ordering convention (PySCF's, used everywhere in densnet): for each atom in input order, the shells of its
element in basis order; within a shell of angular momentum l with k contracted functions, the k functions one
after another, each with 2l+1 real spherical components. For l = 1 the components are (x, y, z); for l >= 2
they are the real solid harmonics m = -l..l.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

#: Basis names with a densnet meaning beyond PySCF's library.
EVEN_TEMPERED = "even-tempered"


def resolve_basis(name: str, elements: list[str], orbital_basis: str = "def2-svp") -> dict[str, list]:
    """Return ``{symbol: basis in PySCF's internal format}`` for a density-basis name.

    ``name`` is any basis in PySCF's library (e.g. ``def2-universal-jfit``, ``cc-pvtz-jkfit``) or
    ``even-tempered`` (PySCF's ``aug_etb`` even-tempered set, beta = 2.0, built from ``orbital_basis``) or
    ``even-tempered-BETA`` (the same with another exponent ratio, e.g. ``even-tempered-1.6``: denser exponents,
    more functions).
    """
    from pyscf import gto
    from pyscf.df import addons

    beta = even_tempered_beta(name)
    out: dict[str, list] = {}
    for el in sorted(set(elements)):
        if beta is not None:
            spin = gto.charge(el) % 2
            mol = gto.M(atom=f"{el} 0 0 0", basis=orbital_basis, spin=spin, verbose=0)
            out[el] = addons.aug_etb(mol, beta=beta)[el]
        else:
            try:
                out[el] = gto.load(name, el)
            except Exception as exc:  # PySCF raises several types for unknown names
                raise ValueError(f"density basis {name!r} has no functions for element {el}: {exc}") from None
            if not out[el]:
                raise ValueError(f"density basis {name!r} has no functions for element {el}")
    return out


def even_tempered_beta(name: str) -> float | None:
    """Exponent ratio of an ``even-tempered[-BETA]`` name (2.0 for the plain name), None for other names."""
    if name == EVEN_TEMPERED:
        return 2.0
    if name.startswith(EVEN_TEMPERED + "-"):
        try:
            beta = float(name[len(EVEN_TEMPERED) + 1:])
        except ValueError:
            raise ValueError(f"density basis {name!r}: expected even-tempered-BETA with a number BETA > 1") from None
        if beta <= 1.0:
            raise ValueError(f"density basis {name!r}: BETA must be > 1")
        return beta
    return None


def basis_to_json(basis: dict[str, list]) -> str:
    return json.dumps(basis, sort_keys=True)


def basis_from_json(text: str) -> dict[str, list]:
    return json.loads(text)


@dataclass(frozen=True)
class ElementBasis:
    """Shell layout of one element's density basis.

    ``shells`` is a tuple of ``(l, n_contracted)`` in PySCF order; ``n_functions`` the number of coefficients.
    """

    symbol: str
    shells: tuple[tuple[int, int], ...]

    @property
    def n_functions(self) -> int:
        return sum(n * (2 * l + 1) for l, n in self.shells)

    @property
    def irreps(self) -> str:
        """e3nn irreps string in the same order as the coefficients (parity (-1)^l)."""
        parts = []
        for l, n in self.shells:
            parity = "e" if l % 2 == 0 else "o"
            parts.append(f"{n}x{l}{parity}")
        return "+".join(parts)

    @property
    def lmax(self) -> int:
        return max(l for l, _ in self.shells)


def element_layout(symbol: str, basis_entry: list) -> ElementBasis:
    """Shell layout from one element's basis in PySCF's internal format."""
    from pyscf import gto

    mol = gto.M(atom=f"{symbol} 0 0 0", basis={symbol: basis_entry}, spin=gto.charge(symbol) % 2, verbose=0)
    shells = tuple((int(mol.bas_angular(i)), int(mol.bas_nctr(i))) for i in range(mol.nbas))
    return ElementBasis(symbol, shells)


def one_centre_moments(mol) -> tuple[np.ndarray, np.ndarray]:
    """Integrals of each basis function of a PySCF ``Mole`` (spherical functions).

    Returns ``(n, d)``: ``n[P] = int phi_P(r) dr`` (nonzero for s functions only), shape [nao], and
    ``d[P] = int (r - R_P) phi_P(r) dr`` about the function's own centre (nonzero for p functions only),
    shape [nao, 3]. Lengths in bohr. Uses libcint's normalisation: s = Y00 * sum_k c_k exp(-a_k r^2),
    p_x = sqrt(3/4pi) * x * sum_k c_k exp(-a_k r^2).
    """
    from pyscf.gto.mole import gaussian_int

    nao = mol.nao_nr()
    n = np.zeros(nao)
    d = np.zeros((nao, 3))
    offset = 0
    for ib in range(mol.nbas):
        l = mol.bas_angular(ib)
        nctr = mol.bas_nctr(ib)
        exps = mol.bas_exp(ib)
        coef = mol._libcint_ctr_coeff(ib)  # [nprim, nctr], normalised as libcint uses them
        if l == 0:
            vals = np.sqrt(4 * np.pi) * (gaussian_int(2, exps) @ coef)
            n[offset : offset + nctr] = vals
        elif l == 1:
            vals = np.sqrt(3 / (4 * np.pi)) * (4 * np.pi / 3) * (gaussian_int(4, exps) @ coef)
            for k in range(nctr):
                d[offset + 3 * k : offset + 3 * k + 3] = np.eye(3) * vals[k]
        offset += nctr * (2 * l + 1)
    assert offset == nao
    return n, d

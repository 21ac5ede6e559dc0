"""Edge and node embeddings: Bessel radial basis with a smooth polynomial envelope, spherical harmonics of
edge directions, element one-hot / coefficient embeddings."""

from __future__ import annotations

import math

import torch
from e3nn import o3
from torch import nn


class RadialEmbedding(nn.Module):
    """Bessel functions sqrt(2/rc) sin(n pi r / rc) / r (n = 1..n_basis) and the envelope u(r).

    u is NequIP-style polynomial (p = 6): u(rc) = u'(rc) = u''(rc) = 0, so anything multiplied by u is smooth
    as a neighbour crosses the cutoff. r in Angstrom. Returns (basis [E, n_basis], envelope [E]).
    """

    def __init__(self, cutoff: float, n_basis: int = 8, p: int = 6) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = float(p)
        self.register_buffer("freqs", torch.arange(1, n_basis + 1, dtype=torch.get_default_dtype()) * math.pi)

    def envelope(self, r: torch.Tensor) -> torch.Tensor:
        x = r / self.cutoff
        p = self.p
        u = (1.0 - (p + 1.0) * (p + 2.0) / 2.0 * x.pow(p) + p * (p + 2.0) * x.pow(p + 1.0)
             - p * (p + 1.0) / 2.0 * x.pow(p + 2.0))
        return torch.where(x < 1.0, u, torch.zeros_like(u))

    def forward(self, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = r.unsqueeze(-1) / self.cutoff
        basis = math.sqrt(2.0 / self.cutoff) * torch.sin(self.freqs * x) / r.unsqueeze(-1)
        return basis, self.envelope(r)


class SphericalHarmonics(nn.Module):
    """e3nn's real spherical harmonics (component normalisation, of the unit vector) up to lmax in few ops.

    Y_l is a homogeneous polynomial of degree l; all ordered products u_a u_b ... of the unit vector up to
    degree lmax are formed by outer products (1 + 3 + 9 + ... columns) and mapped by one constant matrix,
    fitted once (exactly, least squares on random points) to ``e3nn.o3.spherical_harmonics``. Replaces e3nn's
    generated code (hundreds of tiny elementwise ops per call, forward and backward). u [E, 3] -> [E, (lmax+1)^2].
    """

    def __init__(self, lmax: int) -> None:
        super().__init__()
        self.lmax = int(lmax)
        rng = torch.Generator().manual_seed(0)
        x = torch.randn(400, 3, generator=rng, dtype=torch.float64)
        mono = self._monomials(x)
        blocks = []
        c0 = 0
        coef = torch.zeros(mono.shape[1], (self.lmax + 1) ** 2, dtype=torch.float64)
        for l in range(self.lmax + 1):
            y = o3.spherical_harmonics(l, x, normalize=False, normalization="component")  # degree-l polynomial
            m = mono[:, c0 : c0 + 3**l]
            sol = torch.linalg.lstsq(m, y, driver="gelsd").solution
            assert torch.allclose(m @ sol, y, atol=1e-10 * float(y.abs().max())), l
            coef[c0 : c0 + 3**l, l * l : (l + 1) ** 2] = sol
            blocks.append(sol)
            c0 += 3**l
        self.register_buffer("coef", coef.to(torch.get_default_dtype()), persistent=False)

    def _monomials(self, u: torch.Tensor) -> torch.Tensor:
        n = u.shape[0]
        cur = torch.ones(n, 1, dtype=u.dtype, device=u.device)
        parts = [cur]
        for _ in range(self.lmax):
            cur = (cur.unsqueeze(-1) * u.unsqueeze(1)).reshape(n, -1)
            parts.append(cur)
        return torch.cat(parts, dim=1)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self._monomials(u), self.coef)


class EdgeEmbedding(nn.Module):
    """Edge vectors -> (spherical harmonics [E, (lmax+1)^2] (component normalisation), radial basis, envelope)."""

    def __init__(self, lmax: int, cutoff: float, n_basis: int = 8) -> None:
        super().__init__()
        self.irreps_sh = o3.Irreps.spherical_harmonics(lmax)
        self.sh = SphericalHarmonics(lmax)
        self.radial = RadialEmbedding(cutoff, n_basis)

    def forward(self, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r = torch.linalg.norm(vectors, dim=-1)
        basis, env = self.radial(r)
        return self.sh(vectors / r.unsqueeze(-1)), basis, env


class ElementEmbedding(nn.Module):
    """One-hot element types [N] -> scalar features [N, n_features] (a linear map, no bias)."""

    def __init__(self, n_types: int, n_features: int) -> None:
        super().__init__()
        self.n_types = n_types
        self.linear = nn.Linear(n_types, n_features, bias=False)

    def forward(self, types: torch.Tensor) -> torch.Tensor:
        onehot = torch.nn.functional.one_hot(types, self.n_types).to(self.linear.weight.dtype)
        return self.linear(onehot)

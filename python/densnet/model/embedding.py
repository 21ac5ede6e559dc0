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


class EdgeEmbedding(nn.Module):
    """Edge vectors -> (spherical harmonics [E, (lmax+1)^2] (component normalisation), radial basis, envelope)."""

    def __init__(self, lmax: int, cutoff: float, n_basis: int = 8) -> None:
        super().__init__()
        self.irreps_sh = o3.Irreps.spherical_harmonics(lmax)
        self.sh = o3.SphericalHarmonics(self.irreps_sh, True, "component")
        self.radial = RadialEmbedding(cutoff, n_basis)

    def forward(self, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r = torch.linalg.norm(vectors, dim=-1)
        basis, env = self.radial(r)
        return self.sh(vectors), basis, env


class ElementEmbedding(nn.Module):
    """One-hot element types [N] -> scalar features [N, n_features] (a linear map, no bias)."""

    def __init__(self, n_types: int, n_features: int) -> None:
        super().__init__()
        self.n_types = n_types
        self.linear = nn.Linear(n_types, n_features, bias=False)

    def forward(self, types: torch.Tensor) -> torch.Tensor:
        onehot = torch.nn.functional.one_hot(types, self.n_types).to(self.linear.weight.dtype)
        return self.linear(onehot)


class PerElementLinear(nn.Module):
    """A separate ``o3.Linear`` per element between per-element irreps and common irreps.

    ``irreps_in``/``irreps_out`` are lists (one per element) or a single string shared by all. Inputs and
    outputs are zero-padded rows [N, max dim]; row n uses element types[n]'s map.
    """

    def __init__(self, irreps_in: list[str], irreps_out: list[str], biases: bool = False) -> None:
        super().__init__()
        self.linears = nn.ModuleList(
            [o3.Linear(i, o, biases=biases) for i, o in zip(irreps_in, irreps_out, strict=True)])
        self.dims_in = [o3.Irreps(i).dim for i in irreps_in]
        self.dims_out = [o3.Irreps(o).dim for o in irreps_out]
        self.out_dim = max(self.dims_out)

    def forward(self, x: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], self.out_dim, dtype=x.dtype, device=x.device)
        for k, lin in enumerate(self.linears):
            sel = (types == k).nonzero().squeeze(-1)
            y = lin(x.index_select(0, sel)[:, : self.dims_in[k]])
            y = torch.nn.functional.pad(y, [0, self.out_dim - self.dims_out[k]])
            out = out.index_copy(0, sel, y)
        return out

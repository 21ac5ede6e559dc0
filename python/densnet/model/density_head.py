"""Density head: per-element irreps outputs -> Delta coefficients on top of the SAD prior, with the electron
count conserved exactly and locally.

Delta = scale * M @ a, with a the per-element e3nn output and M the e3nn -> PySCF change of basis. Per atom the
s part of Delta is projected to integrate to zero (n . Delta = 0), then charge moves between neighbours:
t_ij = g(s_i, s_j, r_ij) - g(s_j, s_i, r_ij) = -t_ji, atom i gains Q_i = sum_j t_ij electrons placed in its
s channels with the free-atom profile SAD/Z (n . profile = 1). Hence sum_A n . c_A = sum_A Z_A exactly, for
every molecule separately, without any sum over the system.
"""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from .embedding import PerElementLinear
from .interaction import MLP


class ChargeTransfer(nn.Module):
    """Antisymmetric pair charge transfer from invariant features. Returns Q [N] (electrons gained)."""

    def __init__(self, n_scalars: int, n_radial: int, hidden: int) -> None:
        super().__init__()
        self.n_scalars = n_scalars
        self.mlp = MLP([2 * n_scalars + n_radial, hidden, 1])

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, radial: torch.Tensor,
                envelope: torch.Tensor) -> torch.Tensor:
        s = h[:, : self.n_scalars]
        si, sj = s.index_select(0, edge_index[0]), s.index_select(0, edge_index[1])
        g_ij = self.mlp(torch.cat([si, sj, radial], dim=1)).squeeze(-1)
        g_ji = self.mlp(torch.cat([sj, si, radial], dim=1)).squeeze(-1)
        t = (g_ij - g_ji) * envelope
        return torch.zeros(h.shape[0], dtype=h.dtype, device=h.device).index_add(0, edge_index[0], t)


class DensityHead(nn.Module):
    """Final features [N, irreps_in.dim] -> (coeffs [N, F], delta [N, F], Q [N]); PySCF order, zero padded."""

    def __init__(self, irreps_in: o3.Irreps, element_irreps: list[str], n_radial: int, hidden: int) -> None:
        super().__init__()
        irreps_in = o3.Irreps(irreps_in)
        n_scalars = sum(m for m, ir in irreps_in if ir.l == 0)
        assert irreps_in[0].ir.l == 0, "scalars must come first"
        self.heads = PerElementLinear([str(irreps_in)] * len(element_irreps), element_irreps, biases=True)
        self.transfer = ChargeTransfer(n_scalars, n_radial, hidden)

    def forward(self, h: torch.Tensor, types: torch.Tensor, edge_index: torch.Tensor, radial: torch.Tensor,
                envelope: torch.Tensor, change: torch.Tensor, scale: torch.Tensor, sad: torch.Tensor,
                n_int: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """change [T,F,F], scale/sad/n_int [T,F]: per-element tables (see layout.BasisTables)."""
        a = self.heads(h, types)
        delta = torch.einsum("nfg,ng->nf", change.index_select(0, types), a) * scale.index_select(0, types)
        n = n_int.index_select(0, types)
        delta = delta - n * ((n * delta).sum(1) / (n * n).sum(1)).unsqueeze(-1)
        q = self.transfer(h, edge_index, radial, envelope)
        s_sad = sad.index_select(0, types)
        profile = s_sad / (n * s_sad).sum(1, keepdim=True)
        delta = delta + q.unsqueeze(-1) * profile
        return s_sad + delta, delta, q

"""Energy network pieces: density coefficients -> common irreps node features, per-atom energy readout."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from .embedding import ElementEmbedding, PerElementLinear
from .interaction import MLP


class CoefficientEmbedding(nn.Module):
    """Delta coefficients [N, F] (PySCF order) -> node features [N, irreps_out.dim].

    The coefficients are normalised per shell (scale [T, F], uniform over m) and rotated to e3nn's basis
    (M^T), mapped by a per-element ``o3.Linear`` into common irreps and the element embedding is added to
    the scalars. No bias on l > 0 channels.
    """

    def __init__(self, element_irreps: list[str], irreps_out: o3.Irreps) -> None:
        super().__init__()
        irreps_out = o3.Irreps(irreps_out)
        self.n_scalars = sum(m for m, ir in irreps_out if ir.l == 0)
        self.linear = PerElementLinear(element_irreps, [str(irreps_out)] * len(element_irreps))
        self.element = ElementEmbedding(len(element_irreps), self.n_scalars)

    def forward(self, delta: torch.Tensor, types: torch.Tensor, change: torch.Tensor,
                scale: torch.Tensor) -> torch.Tensor:
        x = delta / scale.index_select(0, types)
        a = torch.einsum("ngf,ng->nf", change.index_select(0, types), x)  # M^T x
        h = self.linear(a, types)
        e = self.element(types)
        return torch.cat([h[:, : self.n_scalars] + e, h[:, self.n_scalars :]], dim=1)


class EnergyReadout(nn.Module):
    """Invariant features -> per-atom energy (eV): scale * MLP(scalars) + shift[type]."""

    def __init__(self, n_scalars: int, hidden: int) -> None:
        super().__init__()
        self.n_scalars = n_scalars
        self.mlp = MLP([n_scalars, hidden, 1])

    def forward(self, h: torch.Tensor, types: torch.Tensor, energy_scale: torch.Tensor,
                energy_shift: torch.Tensor) -> torch.Tensor:
        y = self.mlp(h[:, : self.n_scalars]).squeeze(-1)
        return y * energy_scale + energy_shift.index_select(0, types)

"""Energy network pieces: density coefficients -> common irreps node features, per-atom energy readout."""

from __future__ import annotations

import math
from typing import List  # noqa: UP035

import torch
from e3nn import o3
from torch import nn

from .density_head import change_matrices, shell_tables
from .interaction import MLP, natural_blocks


class CoefficientEmbedding(nn.Module):
    """Delta coefficients [N, F] (PySCF order) -> node features [N, irreps_out.dim].

    The coefficients are normalised per shell (scale [T, F], uniform over m), gathered into per-l shell
    blocks, rotated to e3nn's basis (M^T) and mapped by per-element weights [T, n_shells_l, mul_l] (gathered
    by type: no loop over elements) into compact common irreps (only l <= the energy network's lmax are read).
    A per-element bias on the scalars plays the element embedding. No bias on l > 0 channels.
    """

    def __init__(self, element_irreps: list[str], irreps_out: o3.Irreps) -> None:
        super().__init__()
        blocks = natural_blocks(o3.Irreps(irreps_out))
        n_types = len(element_irreps)
        n_shells, _, from_pyscf = shell_tables(element_irreps)
        dt = torch.get_default_dtype()
        mats, moff = change_matrices(len(n_shells) - 1, dt)
        self.register_buffer("mats", mats, persistent=False)
        self.m_off: List[int] = moff  # noqa: UP006
        base = [0]
        for l, s in enumerate(n_shells):
            base.append(base[-1] + s * (2 * l + 1))
        self.l: List[int] = []  # noqa: UP006
        self.mul: List[int] = []  # noqa: UP006
        self.shells: List[int] = []  # noqa: UP006
        self.w_off: List[int] = [0]  # noqa: UP006
        cols: list[torch.Tensor] = []
        for mul, l in blocks:
            s = n_shells[l] if l < len(n_shells) else 0
            self.l.append(l)
            self.mul.append(mul)
            self.shells.append(s)
            self.w_off.append(self.w_off[-1] + n_types * s * mul)
            if s:
                cols.append(from_pyscf[:, base[l] : base[l + 1]])
        self.register_buffer("from_pyscf", torch.cat(cols, dim=1), persistent=False)
        self.weight = nn.Parameter(torch.randn(max(self.w_off[-1], 1), dtype=dt))
        self.n_scalars = blocks[0][0] if blocks[0][1] == 0 else 0
        self.bias = nn.Parameter(torch.randn(n_types, self.n_scalars, dtype=dt))
        self.n_types = n_types

    def forward(self, delta: torch.Tensor, types: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        n = delta.shape[0]
        x = delta / scale.index_select(0, types)
        x = torch.cat([x, torch.zeros(n, 1, dtype=x.dtype, device=x.device)], dim=1)
        a = x.gather(1, self.from_pyscf.index_select(0, types))  # [N, sum_l S_l (2l+1)], PySCF m order
        outs: List[torch.Tensor] = []  # noqa: UP006
        c0 = 0
        for k in range(len(self.l)):
            l, mul, s = self.l[k], self.mul[k], self.shells[k]
            dim = 2 * l + 1
            if s == 0:
                y = torch.zeros(n, mul * dim, dtype=x.dtype, device=x.device)
            else:
                m = self.mats[self.m_off[l] : self.m_off[l + 1]].view(dim, dim)
                xs = torch.matmul(a[:, c0 : c0 + s * dim].reshape(n, s, dim), m)  # e3nn order: a = M^T c
                w = self.weight[self.w_off[k] : self.w_off[k + 1]].view(self.n_types, s, mul).index_select(0, types)
                y = torch.bmm(xs.transpose(1, 2), w).transpose(1, 2) * (1.0 / math.sqrt(s))  # [N, mul, 2l+1]
                y = y.reshape(n, mul * dim)
                c0 += s * dim
            if l == 0:
                y = y + self.bias.index_select(0, types)
            outs.append(y)
        return torch.cat(outs, dim=1)


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

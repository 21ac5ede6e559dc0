"""Energy network pieces: density coefficients -> common irreps node features, per-atom energy readout."""

from __future__ import annotations

import math

import torch
from e3nn import o3
from torch import nn

from .density_head import element_shells, shell_tables
from .interaction import MLP, block_offsets, natural_blocks
from .layout import pyscf_from_e3nn


class CoefficientEmbedding(nn.Module):
    """Delta coefficients [N, F] (PySCF order) -> node features [N, irreps_out.dim].

    The coefficients are normalised per shell (scale [T, F], uniform over m), rotated to e3nn's basis (M^T)
    and mapped by per-element weights [T, n_shells_l, mul_l] into compact common irreps (only l <= the energy
    network's lmax are read). A per-element bias on the scalars plays the element embedding; no bias on l > 0.
    No loop over elements or l: the weights are spread into one matrix [F, T * irreps_out.dim], one matmul,
    then each atom's own block is gathered.
    """

    def __init__(self, element_irreps: list[str], irreps_out: o3.Irreps) -> None:
        super().__init__()
        blocks = natural_blocks(o3.Irreps(irreps_out))
        n_types = len(element_irreps)
        n_shells, _, _ = shell_tables(element_irreps)
        dt = torch.get_default_dtype()
        out_off = block_offsets(blocks)
        out_dim = out_off[-1]
        ls_out = [l for _, l in blocks]
        f_max = max(o3.Irreps(e).dim for e in element_irreps)
        w_off = {}
        total = 0
        for mul, l in blocks:
            s = n_shells[l] if l < len(n_shells) else 0
            w_off[l] = total
            total += n_types * s * mul
        rows, cols, widx, coef = [], [], [], []
        for t, irr in enumerate(element_irreps):
            for l, s, f0 in element_shells(irr):
                if l not in ls_out:
                    continue
                b = ls_out.index(l)
                mul, dim = blocks[b][0], 2 * l + 1
                m = torch.as_tensor(pyscf_from_e3nn(l), dtype=torch.float64)
                for mp in range(dim):
                    for u in range(mul):
                        for me in range(dim):
                            rows.append(f0 + mp)
                            cols.append(t * out_dim + out_off[b] + u * dim + me)
                            widx.append(w_off[l] + (t * n_shells[l] + s) * mul + u)
                            coef.append(float(m[mp, me]) / math.sqrt(n_shells[l]))
        w_index = torch.full((f_max, n_types * out_dim), total, dtype=torch.long)
        w_coef = torch.zeros(f_max, n_types * out_dim, dtype=dt)
        w_index[rows, cols] = torch.tensor(widx, dtype=torch.long)
        w_coef[rows, cols] = torch.tensor(coef, dtype=dt)
        self.register_buffer("w_index", w_index, persistent=False)
        self.register_buffer("w_coef", w_coef, persistent=False)
        self.n_scalars = blocks[0][0] if blocks[0][1] == 0 else 0
        b_index = torch.full((n_types, out_dim), n_types * self.n_scalars, dtype=torch.long)
        for t in range(n_types):
            b_index[t, : self.n_scalars] = torch.arange(self.n_scalars) + t * self.n_scalars
        self.register_buffer("b_index", b_index, persistent=False)
        self.weight = nn.Parameter(torch.randn(max(total, 1), dtype=dt))
        self.bias = nn.Parameter(torch.randn(n_types, self.n_scalars, dtype=dt))
        self.n_types = n_types
        self.out_dim = out_dim

    def forward(self, delta: torch.Tensor, types: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        n = delta.shape[0]
        x = delta / scale.index_select(0, types)
        zero = torch.zeros(1, dtype=x.dtype, device=x.device)
        big = torch.cat([self.weight, zero])[self.w_index] * self.w_coef  # [F, T*D_out]
        y = torch.matmul(x, big).view(n, self.n_types, self.out_dim)
        y = y.gather(1, types.view(n, 1, 1).expand(n, 1, self.out_dim)).squeeze(1)  # own element's block
        bias = torch.cat([self.bias.reshape(-1), zero])[self.b_index]  # [T, D_out]
        return y + bias.index_select(0, types)


class EnergyReadout(nn.Module):
    """Invariant features -> per-atom energy (eV): scale * MLP(scalars) + shift[type]."""

    def __init__(self, n_scalars: int, hidden: int, mlp_init: str = "torch") -> None:
        super().__init__()
        self.n_scalars = n_scalars
        self.mlp = MLP([n_scalars, hidden, 1], init=mlp_init)

    def forward(self, h: torch.Tensor, types: torch.Tensor, energy_scale: torch.Tensor,
                energy_shift: torch.Tensor) -> torch.Tensor:
        y = self.mlp(h[:, : self.n_scalars]).squeeze(-1)
        return y * energy_scale + energy_shift.index_select(0, types)

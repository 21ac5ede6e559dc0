"""Density head: per-element irreps outputs -> Delta coefficients on top of the SAD prior, with the electron
count conserved exactly and locally.

Delta = scale * M @ a, with a the per-element linear map of the final features and M the e3nn -> PySCF change
of basis. Per atom the s part of Delta is projected to integrate to zero (n . Delta = 0), then charge moves
between neighbours: t_ij = g(s_i, s_j, r_ij) - g(s_j, s_i, r_ij) = -t_ji, atom i gains Q_i = sum_j t_ij
electrons placed in its s channels with the free-atom profile SAD/Z (n . profile = 1). Hence
sum_A n . c_A = sum_A Z_A exactly, for every molecule separately, without any sum over the system. The
bookkeeping (projection, profile, SAD, charges) runs in float64 whatever the model dtype, so float32 models
conserve the electron count to float64 round-off too.
"""

from __future__ import annotations

import math
from typing import List  # noqa: UP035

import torch
from e3nn import o3
from torch import nn

from .interaction import MLP, block_offsets, natural_blocks
from .layout import pyscf_from_e3nn


def shell_tables(element_irreps: list[str]) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """Per-element shells <-> a common "shell-major per l" layout.

    Returns (n_shells [L+1]: largest number of shells of each l over elements, to_pyscf [T, F] column of each
    padded PySCF-order function in the common layout (pad -> the extra zero column D), from_pyscf [T, D]
    padded PySCF column of each common-layout entry (absent -> F, an extra zero column)). The common layout
    is, for l = 0..L, n_shells[l] blocks of 2l+1 components.
    """
    irreps = [o3.Irreps(s) for s in element_irreps]
    lmax = max(ir.l for irr in irreps for _, ir in irr)
    n_shells = [max(sum(m for m, ir in irr if ir.l == l) for irr in irreps) for l in range(lmax + 1)]
    base = [0]
    for l in range(lmax + 1):
        base.append(base[-1] + n_shells[l] * (2 * l + 1))
    d_tot = base[-1]
    f_max = max(irr.dim for irr in irreps)
    to_pyscf = torch.full((len(irreps), f_max), d_tot, dtype=torch.long)
    from_pyscf = torch.full((len(irreps), d_tot), f_max, dtype=torch.long)
    for t, irr in enumerate(irreps):
        f = 0
        count = [0] * (lmax + 1)
        for mul, ir in irr:
            l = ir.l
            for _ in range(mul):
                for m in range(2 * l + 1):
                    col = base[l] + count[l] * (2 * l + 1) + m
                    to_pyscf[t, f] = col
                    from_pyscf[t, col] = f
                    f += 1
                count[l] += 1
    return n_shells, to_pyscf, from_pyscf


def change_matrices(lmax: int, dtype: torch.dtype) -> tuple[torch.Tensor, list[int]]:
    """Flattened M_l (PySCF <- e3nn, [2l+1, 2l+1]) for l = 0..lmax and their offsets."""
    mats = [torch.as_tensor(pyscf_from_e3nn(l), dtype=dtype).reshape(-1) for l in range(lmax + 1)]
    off = [0]
    for m in mats:
        off.append(off[-1] + m.numel())
    return torch.cat(mats), off


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
        n_e = si.shape[0]
        g = self.mlp(torch.cat([torch.cat([si, sj, radial], dim=1), torch.cat([sj, si, radial], dim=1)])).squeeze(-1)
        t = (g[:n_e] - g[n_e:]) * envelope
        return torch.zeros(h.shape[0], dtype=h.dtype, device=h.device).index_add(0, edge_index[0], t)


class DensityHead(nn.Module):
    """Final features [N, irreps_in.dim] -> (coeffs [N, F], delta [N, F], Q [N]); PySCF order, zero padded.

    Per l a per-element weight [T, mul_l, n_shells_l] (gathered by type, no loop over elements) maps the
    channels of the features to the element's shells; biases on s shells only. coeffs/delta/Q are float64.
    """

    def __init__(self, irreps_in: o3.Irreps, element_irreps: list[str], n_radial: int, hidden: int) -> None:
        super().__init__()
        blocks = natural_blocks(o3.Irreps(irreps_in))
        assert blocks[0][1] == 0, "scalars must come first"
        n_types = len(element_irreps)
        n_shells, to_pyscf, _ = shell_tables(element_irreps)
        dt = torch.get_default_dtype()
        self.register_buffer("to_pyscf", to_pyscf, persistent=False)
        mats, moff = change_matrices(len(n_shells) - 1, dt)
        self.register_buffer("mats", mats, persistent=False)
        self.m_off: List[int] = moff  # noqa: UP006
        in_off = block_offsets(blocks)
        ls_in = [l for _, l in blocks]
        self.l: List[int] = []  # noqa: UP006
        self.mul: List[int] = []  # noqa: UP006
        self.shells: List[int] = []  # noqa: UP006
        self.h0: List[int] = []  # noqa: UP006
        self.h1: List[int] = []  # noqa: UP006
        self.w_off: List[int] = [0]  # noqa: UP006
        for l, s in enumerate(n_shells):
            if s == 0:
                continue
            if l not in ls_in:  # no features of this l: those coefficients stay zero (h0 = -1)
                self.l.append(l)
                self.mul.append(0)
                self.shells.append(s)
                self.h0.append(-1)
                self.h1.append(-1)
                self.w_off.append(self.w_off[-1])
                continue
            b = ls_in.index(l)
            self.l.append(l)
            self.mul.append(blocks[b][0])
            self.shells.append(s)
            self.h0.append(in_off[b])
            self.h1.append(in_off[b + 1])
            self.w_off.append(self.w_off[-1] + n_types * blocks[b][0] * s)
        self.weight = nn.Parameter(torch.randn(self.w_off[-1], dtype=dt))
        self.bias = nn.Parameter(torch.zeros(n_types, n_shells[0], dtype=dt))
        self.n_types = n_types
        self.transfer = ChargeTransfer(blocks[0][0], n_radial, hidden)

    def forward(self, h: torch.Tensor, types: torch.Tensor, edge_index: torch.Tensor, radial: torch.Tensor,
                envelope: torch.Tensor, scale: torch.Tensor, sad: torch.Tensor,
                n_int: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """scale [T,F] (model dtype), sad/n_int [T,F] (float64): per-element tables (layout.BasisTables)."""
        n = h.shape[0]
        outs: List[torch.Tensor] = []  # noqa: UP006
        for k in range(len(self.l)):
            l, mul, s = self.l[k], self.mul[k], self.shells[k]
            dim = 2 * l + 1
            if self.h0[k] < 0:
                outs.append(torch.zeros(n, s * dim, dtype=h.dtype, device=h.device))
                continue
            m = self.mats[self.m_off[l] : self.m_off[l + 1]].view(dim, dim)
            x = torch.matmul(h[:, self.h0[k] : self.h1[k]].reshape(n, mul, dim), m.t())  # PySCF m order
            w = self.weight[self.w_off[k] : self.w_off[k + 1]].view(self.n_types, mul, s).index_select(0, types)
            y = torch.bmm(x.transpose(1, 2), w).transpose(1, 2) * (1.0 / math.sqrt(mul))  # [N, S, 2l+1]
            y = y.reshape(n, s * dim)
            if l == 0:
                y = y + self.bias.index_select(0, types)
            outs.append(y)
        outs.append(torch.zeros(n, 1, dtype=h.dtype, device=h.device))
        a = torch.cat(outs, dim=1)
        delta = a.gather(1, self.to_pyscf.index_select(0, types)) * scale.index_select(0, types)
        q = self.transfer(h, edge_index, radial, envelope)
        # exact bookkeeping in float64
        delta = delta.to(torch.float64)
        nn_ = n_int.index_select(0, types)
        delta = delta - nn_ * ((nn_ * delta).sum(1) / (nn_ * nn_).sum(1)).unsqueeze(-1)
        s_sad = sad.index_select(0, types)
        profile = s_sad / (nn_ * s_sad).sum(1, keepdim=True)
        delta = delta + q.to(torch.float64).unsqueeze(-1) * profile
        return s_sad + delta, delta, q

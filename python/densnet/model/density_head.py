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


class ChargeTransfer(nn.Module):
    """Antisymmetric pair charge transfer from invariant features. Returns Q [N] (electrons gained)."""

    def __init__(self, n_scalars: int, n_radial: int, hidden: int, mlp_init: str = "torch") -> None:
        super().__init__()
        self.n_scalars = n_scalars
        self.mlp = MLP([2 * n_scalars + n_radial, hidden, 1], init=mlp_init)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, radial: torch.Tensor,
                envelope: torch.Tensor) -> torch.Tensor:
        s = h[:, : self.n_scalars]
        si, sj = s.index_select(0, edge_index[0]), s.index_select(0, edge_index[1])
        n_e = si.shape[0]
        g = self.mlp(torch.cat([torch.cat([si, sj, radial], dim=1), torch.cat([sj, si, radial], dim=1)])).squeeze(-1)
        t = (g[:n_e] - g[n_e:]) * envelope
        return torch.zeros(h.shape[0], dtype=h.dtype, device=h.device).index_add(0, edge_index[0], t)


def element_shells(irreps: str) -> list[tuple[int, int, int]]:
    """(l, index of the shell among the element's shells of that l, first PySCF column) in PySCF order."""
    out = []
    f = 0
    count: dict[int, int] = {}
    for mul, ir in o3.Irreps(irreps):
        for _ in range(mul):
            out.append((ir.l, count.get(ir.l, 0), f))
            count[ir.l] = count.get(ir.l, 0) + 1
            f += 2 * ir.l + 1
    return out


class DensityHead(nn.Module):
    """Final features [N, irreps_in.dim] -> (coeffs [N, F], delta [N, F], Q [N]); PySCF order, zero padded.

    Per l a per-element weight [T, mul_l, n_shells_l] maps the channels of the features to the element's
    shells (times M_l, e3nn -> PySCF); biases on s shells only. Evaluated without any loop over elements or l:
    the weights are spread (index + constant factor) into one matrix [irreps_in.dim, T * F] mapping features to
    every element's padded PySCF coefficients, one matmul, then each atom's own block is gathered.
    coeffs/delta/Q are float64 (exact electron bookkeeping).
    """

    def __init__(self, irreps_in: o3.Irreps, element_irreps: list[str], n_radial: int, hidden: int,
                 mlp_init: str = "torch") -> None:
        super().__init__()
        blocks = natural_blocks(o3.Irreps(irreps_in))
        assert blocks[0][1] == 0, "scalars must come first"
        n_types = len(element_irreps)
        n_shells, _, _ = shell_tables(element_irreps)
        dt = torch.get_default_dtype()
        in_off = block_offsets(blocks)
        ls_in = [l for _, l in blocks]
        f_max = max(o3.Irreps(e).dim for e in element_irreps)
        w_off = {}
        total = 0
        for l, s in enumerate(n_shells):
            if s and l in ls_in:
                w_off[l] = total
                total += n_types * blocks[ls_in.index(l)][0] * s
        rows, cols, widx, coef = [], [], [], []
        b_index = torch.full((n_types, f_max), n_types * n_shells[0], dtype=torch.long)
        for t, irr in enumerate(element_irreps):
            for l, s, f0 in element_shells(irr):
                dim = 2 * l + 1
                if l == 0:
                    b_index[t, f0] = t * n_shells[0] + s
                if l not in ls_in:  # no features of this l: those coefficients stay zero
                    continue
                b = ls_in.index(l)
                mul = blocks[b][0]
                m = torch.as_tensor(pyscf_from_e3nn(l), dtype=torch.float64)
                for u in range(mul):
                    for me in range(dim):
                        for mp in range(dim):
                            rows.append(in_off[b] + u * dim + me)
                            cols.append(t * f_max + f0 + mp)
                            widx.append(w_off[l] + (t * mul + u) * n_shells[l] + s)
                            coef.append(float(m[mp, me]) / math.sqrt(mul))
        w_index = torch.full((in_off[-1], n_types * f_max), total, dtype=torch.long)
        w_coef = torch.zeros(in_off[-1], n_types * f_max, dtype=dt)
        w_index[rows, cols] = torch.tensor(widx, dtype=torch.long)
        w_coef[rows, cols] = torch.tensor(coef, dtype=dt)
        self.register_buffer("w_index", w_index, persistent=False)
        self.register_buffer("w_coef", w_coef, persistent=False)
        self.register_buffer("b_index", b_index, persistent=False)
        self.weight = nn.Parameter(torch.randn(total, dtype=dt))
        self.bias = nn.Parameter(torch.zeros(n_types, n_shells[0], dtype=dt))
        self.n_types = n_types
        self.f_max = f_max
        self.transfer = ChargeTransfer(blocks[0][0], n_radial, hidden, mlp_init=mlp_init)

    def forward(self, h: torch.Tensor, types: torch.Tensor, edge_index: torch.Tensor, radial: torch.Tensor,
                envelope: torch.Tensor, scale: torch.Tensor, sad: torch.Tensor,
                n_int: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """scale [T,F] (model dtype), sad/n_int [T,F] (float64): per-element tables (layout.BasisTables)."""
        n = h.shape[0]
        zero = torch.zeros(1, dtype=h.dtype, device=h.device)
        big = torch.cat([self.weight, zero])[self.w_index] * self.w_coef  # [D_in, T*F]
        y = torch.matmul(h, big).view(n, self.n_types, self.f_max)
        y = y.gather(1, types.view(n, 1, 1).expand(n, 1, self.f_max)).squeeze(1)  # own element's block
        bias = torch.cat([self.bias.reshape(-1), zero])[self.b_index]  # [T, F]
        delta = (y + bias.index_select(0, types)) * scale.index_select(0, types)
        q = self.transfer(h, edge_index, radial, envelope)
        # exact bookkeeping in float64
        delta = delta.to(torch.float64)
        nn_ = n_int.index_select(0, types)
        delta = delta - nn_ * ((nn_ * delta).sum(1) / (nn_ * nn_).sum(1)).unsqueeze(-1)
        s_sad = sad.index_select(0, types)
        profile = s_sad / (nn_ * s_sad).sum(1, keepdim=True)
        delta = delta + q.to(torch.float64).unsqueeze(-1) * profile
        return s_sad + delta, delta, q

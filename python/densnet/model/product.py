"""Many-body node update of the energy network: element-dependent symmetric products of a node's own features.

A message-passing layer sums two-body terms over neighbours; products of such sums on one node raise the body
order (MACE's symmetric contraction, here written out per Clebsch-Gordan path). ``ProductBlock`` is node-local,
so it needs no extra neighbour communication (it runs inside the halo stage of its energy layer).
"""

from __future__ import annotations

import math
from typing import List  # noqa: UP035 (TorchScript)

import torch
from e3nn import o3
from torch import nn

from .interaction import block_offsets, natural_blocks


def product_paths(ls_a: list[int], ls_b: list[int], ls_out: list[int], symmetric: bool) -> list[tuple[int, int, int]]:
    """Paths (l1, l2, l3) of natural-parity irreps (l1 + l2 + l3 even, triangle rule); ``symmetric``: l1 <= l2."""
    return [(l1, l2, l3) for l1 in ls_a for l2 in ls_b for l3 in ls_out
            if (not symmetric or l1 <= l2) and abs(l1 - l2) <= l3 <= l1 + l2 and (l1 + l2 + l3) % 2 == 0]


class ProductBlock(nn.Module):
    """h' = h + W_out sum_{nu=2}^{correlation} B_nu: body order raised on each node, weights per element.

    x = W_in h projects every l of the natural irreps to ``channels`` channels ([N, c, 2l+1] per l). Per channel c:
    B_2[l3] = sum over paths l1 <= l2 -> l3 of w[z, path, c] CG(x[l1], x[l2]); B_{nu+1}[l3] = sum over paths
    l1, l2 -> l3 of w[z, path, c] CG(B_nu[l1], x[l2]). W_out maps the c channels of each l back to its
    multiplicity. Shapes: h [N, irreps.dim], types [N] -> [N, irreps.dim]. Equivariant (O(3)) by construction.
    """

    def __init__(self, irreps: o3.Irreps, n_types: int, correlation: int, channels: int) -> None:
        super().__init__()
        if correlation < 2:
            raise ValueError(f"ProductBlock: correlation must be >= 2, got {correlation}")
        blocks = natural_blocks(o3.Irreps(irreps))
        self.ls: List[int] = [l for _, l in blocks]  # noqa: UP006
        self.muls: List[int] = [m for m, _ in blocks]  # noqa: UP006
        self.off: List[int] = block_offsets(blocks)  # noqa: UP006
        self.channels = int(channels)
        self.correlation = int(correlation)
        dt = torch.get_default_dtype()
        c = self.channels
        # per correlation order nu = 2..correlation: its paths (index into self.ls), CG matrices flattened
        self.p_a: List[int] = []  # noqa: UP006  (input 1: x for nu = 2, B_{nu-1} otherwise)
        self.p_b: List[int] = []  # noqa: UP006
        self.p_out: List[int] = []  # noqa: UP006
        self.p_cg: List[int] = []  # noqa: UP006  (offset into the cg buffer; path k uses cg[p_cg[k]:p_cg[k+1]])
        self.nu_start: List[int] = [0]  # noqa: UP006
        cgs: list[torch.Tensor] = []
        n_in: dict[tuple[int, int], int] = {}
        off = 0
        for nu in range(2, self.correlation + 1):
            for l1, l2, l3 in product_paths(self.ls, self.ls, self.ls, symmetric=nu == 2):
                self.p_a.append(self.ls.index(l1))
                self.p_b.append(self.ls.index(l2))
                self.p_out.append(self.ls.index(l3))
                self.p_cg.append(off)
                cg = o3.wigner_3j(l1, l2, l3).to(dt) * math.sqrt(2 * l3 + 1)  # [2l1+1, 2l2+1, 2l3+1]
                cgs.append(cg.reshape(-1))
                off += cg.numel()
                n_in[(nu, l3)] = n_in.get((nu, l3), 0) + 1
            self.nu_start.append(len(self.p_a))
        self.p_cg.append(off)
        self.register_buffer("cg", torch.cat(cgs), persistent=False)
        # path weights [T, P, c], scaled by 1/sqrt(paths into the same (nu, l3))
        scale = []
        for nu in range(2, self.correlation + 1):
            for k in range(self.nu_start[nu - 2], self.nu_start[nu - 1]):
                scale.append(1.0 / math.sqrt(n_in[(nu, self.ls[self.p_out[k]])]))
        self.path_weight = nn.Parameter(torch.randn(n_types, len(self.p_a), c, dtype=dt)
                                        * torch.tensor(scale, dtype=dt).view(1, -1, 1))
        # channel maps per l: W_in [mul, c] (N(0, 1/mul)), W_out [c, mul] (N(0, 1/(c (correlation - 1))))
        self.w_in = nn.Parameter(torch.cat([torch.randn(m * c, dtype=dt) / math.sqrt(m) for m in self.muls]))
        self.w_out = nn.Parameter(torch.cat([torch.randn(c * m, dtype=dt) / math.sqrt(c * (self.correlation - 1))
                                             for m in self.muls]))

    def forward(self, h: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        n, c = h.shape[0], self.channels
        xs: List[torch.Tensor] = []  # noqa: UP006  per l: [N, c, 2l+1]
        w0 = 0
        for k in range(len(self.ls)):
            mul, dim = self.muls[k], 2 * self.ls[k] + 1
            hk = h[:, self.off[k] : self.off[k + 1]].reshape(n, mul, dim)
            xs.append(torch.matmul(self.w_in[w0 : w0 + mul * c].view(mul, c).t(), hk))
            w0 += mul * c
        wz = self.path_weight.index_select(0, types)  # [N, P, c]
        total: List[torch.Tensor] = [torch.zeros_like(x) for x in xs]  # noqa: UP006
        prev = xs
        for nu in range(2, self.correlation + 1):
            cur: List[torch.Tensor] = [torch.zeros_like(x) for x in xs]  # noqa: UP006
            for p in range(self.nu_start[nu - 2], self.nu_start[nu - 1]):
                a, b, o = prev[self.p_a[p]], xs[self.p_b[p]], self.p_out[p]
                d1, d2, d3 = a.shape[2], b.shape[2], cur[o].shape[2]
                outer = (a.unsqueeze(3) * b.unsqueeze(2)).reshape(n, c, d1 * d2)
                t = torch.matmul(outer, self.cg[self.p_cg[p] : self.p_cg[p + 1]].view(d1 * d2, d3))
                cur[o] = cur[o] + t * wz[:, p, :].unsqueeze(2)
            for k in range(len(xs)):
                total[k] = total[k] + cur[k]
            prev = cur
        outs: List[torch.Tensor] = []  # noqa: UP006
        w0 = 0
        for k in range(len(self.ls)):
            mul = self.muls[k]
            y = torch.matmul(self.w_out[w0 : w0 + c * mul].view(c, mul).t(), total[k])  # [N, mul, 2l+1]
            outs.append(y.reshape(n, -1))
            w0 += c * mul
        return h + torch.cat(outs, dim=1)

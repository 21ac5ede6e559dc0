"""Equivariant message passing: a gated nonlinearity and the interaction (convolution) block.

Features are "natural" irreps ``m0 x 0e + m1 x 1o + m2 x 2e + ...`` (one block per l, parity (-1)^l) in
e3nn's flat layout (per block [mul, 2l+1], mul-major). The edge tensor product TP(h_j, Y(r_ij)) with
channel-wise ("uvu") weights is evaluated as one batched matrix product per input l: the Clebsch-Gordan
coefficients are contracted with the edge's spherical harmonics first (B_l1[e] = sum_l2 C Y_l2, shape
[2 l1 + 1, sum over paths of 2 l3 + 1], computed once per edge and shared by layers of equal irreps), then
m[e] = h_j,l1[e] @ B_l1[e]. Path weights from the radial MLP multiply the result; the channel mixing of
messages and the self-connection is one matrix product per output l on the aggregated node features.
"""

from __future__ import annotations

import math
from typing import List, Tuple  # noqa: UP035  (TorchScript needs typing.List)

import torch
from e3nn import o3
from torch import nn

#: MLP initialisation schemes (see MLP)
MLP_INITS = ("torch", "normalized")
#: 1 / sqrt(E[silu(x)^2]) for x ~ N(0, 1): restores unit variance after a SiLU
SILU_GAIN = 1.6747


class MLP(nn.Module):
    """Plain SiLU MLP on invariant inputs (radial weights, charge transfer, energy readout).

    ``init`` "torch": PyTorch's default Linear initialisation (output variance shrinks layer by layer);
    "normalized": weights N(0, g^2 / fan_in) with g = 1 after the input and g = SILU_GAIN after a SiLU, biases
    0, so unit-variance inputs give unit-variance outputs (as e3nn's normalised MLPs). Initialisation only:
    both give the same function class and load the same state dicts.
    """

    def __init__(self, sizes: list[int], bias_last: bool = True, init: str = "torch") -> None:
        super().__init__()
        if init not in MLP_INITS:
            raise ValueError(f"MLP init must be one of {MLP_INITS}, got {init!r}")
        layers: list[nn.Module] = []
        for k in range(len(sizes) - 1):
            lin = nn.Linear(sizes[k], sizes[k + 1], bias=bias_last or k < len(sizes) - 2)
            if init == "normalized":
                with torch.no_grad():
                    lin.weight.normal_(0.0, (SILU_GAIN if k > 0 else 1.0) / math.sqrt(sizes[k]))
                    if lin.bias is not None:
                        lin.bias.zero_()
            layers.append(lin)
            if k < len(sizes) - 2:
                layers.append(nn.SiLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Gate(nn.Module):
    """Gated nonlinearity: input = [scalars | gates | gated]; SiLU on scalars, gated irreps x sigmoid(gate).

    One gate scalar per gated irrep (mul), so l > 0 channels are only ever multiplied by invariants.
    """

    def __init__(self, n_scalars: int, irreps_gated: o3.Irreps) -> None:
        super().__init__()
        self.n_scalars = n_scalars
        self.n_gates = irreps_gated.num_irreps
        idx: list[int] = []
        g = 0
        for mul, ir in irreps_gated:
            for _ in range(mul):
                idx.extend([g] * ir.dim)
                g += 1
        self.register_buffer("gate_index", torch.tensor(idx, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.nn.functional.silu(x[:, : self.n_scalars])
        gates = torch.sigmoid(x[:, self.n_scalars : self.n_scalars + self.n_gates])
        gated = x[:, self.n_scalars + self.n_gates :] * gates.index_select(1, self.gate_index)
        return torch.cat([s, gated], dim=1)


def natural_irreps(mul_scalar: int, mul_vector: int, lmax: int) -> o3.Irreps:
    """``m0 x 0e + m x 1o + m x 2e + ...`` up to lmax (parity (-1)^l, like density-basis functions)."""
    parts = [(mul_scalar, (0, 1))] + [(mul_vector, (l, (-1) ** l)) for l in range(1, lmax + 1)]
    return o3.Irreps([p for p in parts if p[0] > 0])


def natural_blocks(irreps: o3.Irreps) -> list[tuple[int, int]]:
    """[(mul, l)] of natural irreps with one block per l in increasing order (checked)."""
    blocks = [(mul, ir.l) for mul, ir in o3.Irreps(irreps)]
    ls = [l for _, l in blocks]
    assert ls == sorted(set(ls)), f"one block per l, increasing: {irreps}"
    assert all(ir.p == (-1) ** ir.l for _, ir in o3.Irreps(irreps)), f"parity (-1)^l only: {irreps}"
    return blocks


def block_offsets(blocks: list[tuple[int, int]]) -> list[int]:
    """Start of each block (and the end) in the flat layout."""
    off = [0]
    for mul, l in blocks:
        off.append(off[-1] + mul * (2 * l + 1))
    return off


class Interaction(nn.Module):
    """One message-passing layer: h_i' = act(W [h_i, sum_j TP(h_j, Y(r_ij); R(|r_ij|)) / sqrt(k)]).

    The tensor-product weights come from an MLP of the radial basis times the cutoff envelope (one weight per
    path and input channel). ``gate`` False gives a linear (ungated) output, used for the last density layer.
    Shapes: h [N, irreps_in.dim], sh [E, >= (lmax_sh+1)^2] (component normalisation), radial [E, n_radial],
    envelope [E] -> [N, irreps_out.dim]. The edge basis (``edge_basis(sh)``) may be shared by layers of equal
    irreps: forward returns it, pass it back in (an empty list computes it).
    """

    def __init__(self, irreps_in: o3.Irreps, lmax_sh: int, irreps_out: o3.Irreps, n_radial: int,
                 radial_hidden: int, avg_num_neighbors: float, gate: bool = True, mlp_init: str = "torch") -> None:
        super().__init__()
        irreps_in, irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        self.irreps_in, self.irreps_out = irreps_in, irreps_out
        self.lmax_sh = int(lmax_sh)
        blocks_in, blocks_out = natural_blocks(irreps_in), natural_blocks(irreps_out)
        ls_out = [l for _, l in blocks_out]
        dt = torch.get_default_dtype()
        n_sh = (self.lmax_sh + 1) ** 2
        self.n_sh = n_sh
        # per input block: paths (l2, l3) sorted by l3; CG-sh matrix G [(lsh+1)^2, (2 l1+1) * D]
        g_cols: list[torch.Tensor] = []
        self.in_mul: List[int] = []  # noqa: UP006
        self.in_dim: List[int] = []  # noqa: UP006
        self.d_cols: List[int] = []  # noqa: UP006
        self.n_paths: List[int] = []  # noqa: UP006
        path_col: list[int] = []
        # for each output l: list of (input block, start col, end col, n paths)
        gather: dict[int, list[tuple[int, int, int, int]]] = {l: [] for l in ls_out}
        for k, (mul, l1) in enumerate(blocks_in):
            cols: list[torch.Tensor] = []
            d = 0
            p = 0
            for l3 in ls_out:
                start, n_p = d, 0
                for l2 in range(self.lmax_sh + 1):
                    if abs(l1 - l2) <= l3 <= l1 + l2 and (l1 + l2 + l3) % 2 == 0:
                        c = o3.wigner_3j(l1, l2, l3).to(dt) * math.sqrt(2 * l3 + 1)  # [2l1+1, 2l2+1, 2l3+1]
                        g = torch.zeros(n_sh, 2 * l1 + 1, 2 * l3 + 1, dtype=dt)
                        g[l2 * l2 : (l2 + 1) ** 2] = c.permute(1, 0, 2)
                        cols.append(g)
                        path_col.extend([p] * (2 * l3 + 1))
                        d += 2 * l3 + 1
                        p += 1
                        n_p += 1
                if n_p:
                    gather[l3].append((k, start, d, n_p))
            self.in_mul.append(mul)
            self.in_dim.append(2 * l1 + 1)
            self.d_cols.append(d)
            self.n_paths.append(p)
            g_cols.append(torch.cat(cols, dim=2).reshape(n_sh, -1) if cols else torch.zeros(n_sh, 0, dtype=dt))
        self.register_buffer("cg", torch.cat(g_cols, dim=1), persistent=False)
        # 0/1 matrices [n_paths, D] spreading one weight per path over its 2 l3 + 1 columns (a matmul is much
        # faster than index_select along the last dimension, forward and backward)
        pc = torch.tensor(path_col, dtype=torch.long)
        expand = []
        c0 = 0
        for p, d in zip(self.n_paths, self.d_cols, strict=True):
            e = torch.zeros(p, d, dtype=dt)
            e[pc[c0 : c0 + d], torch.arange(d)] = 1.0
            expand.append(e.reshape(-1))
            c0 += d
        self.register_buffer("path_expand", torch.cat(expand), persistent=False)
        self.weight_numel = sum(m * p for m, p in zip(self.in_mul, self.n_paths, strict=True))
        self.radial = MLP([n_radial, radial_hidden, radial_hidden, self.weight_numel], init=mlp_init)
        self.norm = 1.0 / math.sqrt(avg_num_neighbors)

        if gate:
            n_scal = sum(m for m, l in blocks_out if l == 0)
            gated = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l > 0])
            pre_mul = [m + (gated.num_irreps if l == 0 else 0) for m, l in blocks_out]
            self.gate = Gate(n_scal, gated)
            self.use_gate = True
        else:
            pre_mul = [m for m, _ in blocks_out]
            self.gate = Gate(0, o3.Irreps(""))
            self.use_gate = False
        # channel mixing of [aggregated messages, self features] -> pre-activation: per output l one [fan, mul_out]
        # matrix (N(0, 1/fan)) applied to the fan input rows of that l (every row a (2l+1)-component vector:
        # a message path of one input channel, or a self-connection channel of equal l): the same weight for
        # every m, equivariant by construction. mix_rows lists, per output l, the columns of [messages | h]
        # of its fan rows (row-major: fan, then m); weights of output l: weight[w_off[o]:w_off[o+1]], [fan, mul].
        ls_in = [l for _, l in blocks_in]
        self.in_off: List[int] = block_offsets(blocks_in)  # noqa: UP006
        mid_off = [0]
        for mul, d in zip(self.in_mul, self.d_cols, strict=True):
            mid_off.append(mid_off[-1] + mul * d)
        mix_rows: list[int] = []
        self.mix_dim: List[int] = []  # noqa: UP006
        self.mix_fan: List[int] = []  # noqa: UP006
        self.mix_mul: List[int] = list(pre_mul)  # noqa: UP006
        for l3 in ls_out:
            dim = 2 * l3 + 1
            rows: list[list[int]] = []  # per fan row: the columns of its 2l+1 components
            for k, st, _en, n_p in gather[l3]:
                for u in range(self.in_mul[k]):
                    for p in range(n_p):
                        rows.append([mid_off[k] + u * self.d_cols[k] + st + p * dim + m for m in range(dim)])
            if l3 in ls_in:
                sb = ls_in.index(l3)
                for u in range(self.in_mul[sb]):
                    rows.append([mid_off[-1] + self.in_off[sb] + u * dim + m for m in range(dim)])
            mix_rows += [c for rr in rows for c in rr]
            self.mix_dim.append(dim)
            self.mix_fan.append(len(rows))
        self.register_buffer("mix_rows", torch.tensor(mix_rows, dtype=torch.long), persistent=False)
        self.weight = nn.Parameter(torch.cat([torch.randn(f * m, dtype=dt) / math.sqrt(max(f, 1))
                                              for f, m in zip(self.mix_fan, pre_mul, strict=True)]))
        self.out_dim = sum(m * d for m, d in zip(pre_mul, self.mix_dim, strict=True))

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        """Channel mixing [N, rows of messages | h] -> pre-activation [N, out_dim] (per output l: [mul, 2l+1])."""
        n = x.shape[0]
        xr = x.index_select(1, self.mix_rows)
        outs: List[torch.Tensor] = []  # noqa: UP006
        r0 = 0
        w0 = 0
        for o in range(len(self.mix_fan)):  # (TorchScript: no zip(strict=...))
            fan, dim, mul = self.mix_fan[o], self.mix_dim[o], self.mix_mul[o]
            if fan == 0:
                outs.append(x.new_zeros(n, mul * dim))
                continue
            xo = xr[:, r0 : r0 + fan * dim].view(n, fan, dim).transpose(1, 2)  # [N, 2l+1, fan]
            w = self.weight[w0 : w0 + fan * mul].view(fan, mul)
            outs.append(torch.matmul(xo, w).transpose(1, 2).reshape(n, mul * dim))
            r0 += fan * dim
            w0 += fan * mul
        return torch.cat(outs, dim=1)

    def edge_basis(self, sh: torch.Tensor) -> List[torch.Tensor]:  # noqa: UP006
        """Per input block: B [E, 2 l1 + 1, D] = CG contracted with the edge's spherical harmonics."""
        y = sh[:, : self.n_sh]
        out: List[torch.Tensor] = []  # noqa: UP006
        g0 = 0
        for k in range(len(self.in_mul)):
            g1 = g0 + self.in_dim[k] * self.d_cols[k]
            out.append(torch.matmul(y, self.cg[:, g0:g1]).view(-1, self.in_dim[k], self.d_cols[k]))
            g0 = g1
        return out

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, sh: torch.Tensor, radial: torch.Tensor,
                envelope: torch.Tensor, basis: List[torch.Tensor]  # noqa: UP006
                ) -> Tuple[torch.Tensor, List[torch.Tensor]]:  # noqa: UP006
        """-> (new features, the edge basis used); pass the returned basis to a layer of equal irreps."""
        if len(basis) == 0:
            basis = self.edge_basis(sh)
        centre, neighbour = edge_index[0], edge_index[1]
        n_nodes, n_edges = h.shape[0], edge_index.shape[1]
        w = self.radial(radial) * (envelope * self.norm).unsqueeze(-1)  # 1/sqrt(k) folded into the weights
        hj = h.index_select(0, neighbour)
        aggs: List[torch.Tensor] = []  # noqa: UP006
        w0 = 0
        p0 = 0
        for k in range(len(self.in_mul)):
            mul, dim, d, n_p = self.in_mul[k], self.in_dim[k], self.d_cols[k], self.n_paths[k]
            x = hj[:, self.in_off[k] : self.in_off[k + 1]].reshape(n_edges, mul, dim)
            m = torch.bmm(x, basis[k])  # [E, mul, D]
            wk = torch.matmul(w[:, w0 : w0 + mul * n_p].reshape(n_edges, mul, n_p),
                              self.path_expand[p0 : p0 + n_p * d].view(n_p, d))
            m = m * wk
            agg = torch.zeros(n_nodes, mul * d, dtype=m.dtype, device=m.device)
            aggs.append(agg.index_add(0, centre, m.reshape(n_edges, mul * d)))
            w0 += mul * n_p
            p0 += n_p * d
        aggs.append(h)
        out = self.mix(torch.cat(aggs, dim=1))
        if self.use_gate:
            out = self.gate(out)
        return out, basis

"""Equivariant message passing: a gated nonlinearity and the interaction (convolution) block."""

from __future__ import annotations

import math

import torch
from e3nn import o3
from torch import nn


class MLP(nn.Module):
    """Plain SiLU MLP on invariant inputs (radial weights, charge transfer, energy readout)."""

    def __init__(self, sizes: list[int], bias_last: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for k in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[k], sizes[k + 1], bias=bias_last or k < len(sizes) - 2))
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
        self.register_buffer("gate_index", torch.tensor(idx, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.nn.functional.silu(x[:, : self.n_scalars])
        gates = torch.sigmoid(x[:, self.n_scalars : self.n_scalars + self.n_gates])
        gated = x[:, self.n_scalars + self.n_gates :] * gates.index_select(1, self.gate_index)
        return torch.cat([s, gated], dim=1)


def natural_irreps(mul_scalar: int, mul_vector: int, lmax: int) -> o3.Irreps:
    """``m0 x 0e + m x 1o + m x 2e + ...`` up to lmax (parity (-1)^l, like density-basis functions)."""
    parts = [(mul_scalar, (0, 1))] + [(mul_vector, (l, (-1) ** l)) for l in range(1, lmax + 1)]
    return o3.Irreps([p for p in parts if p[0] > 0])


class Interaction(nn.Module):
    """One message-passing layer: h_i' = act(W_self h_i + W_msg sum_j TP(h_j, Y(r_ij); R(|r_ij|)) / sqrt(k)).

    The tensor-product weights come from an MLP of the radial basis times the cutoff envelope. ``gate``
    False gives a linear (ungated) output, used for the last density layer. Shapes: h [N, irreps_in.dim],
    sh [E, irreps_sh.dim], radial [E, n_radial], envelope [E] -> [N, irreps_out.dim].
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_sh: o3.Irreps, irreps_out: o3.Irreps, n_radial: int,
                 radial_hidden: int, avg_num_neighbors: float, gate: bool = True) -> None:
        super().__init__()
        irreps_in, irreps_sh, irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_sh), o3.Irreps(irreps_out)
        self.irreps_in, self.irreps_out = irreps_in, irreps_out
        wanted = {ir for _, ir in irreps_out}
        mid, instr = [], []
        for i1, (mul, ir1) in enumerate(irreps_in):
            for i2, (_, ir2) in enumerate(irreps_sh):
                for ir in ir1 * ir2:
                    if ir in wanted:
                        instr.append((i1, i2, len(mid), "uvu", True))
                        mid.append((mul, ir))
        irreps_mid = o3.Irreps(mid)
        self.tp = o3.TensorProduct(irreps_in, irreps_sh, irreps_mid, instr, shared_weights=False,
                                   internal_weights=False)
        self.radial = MLP([n_radial, radial_hidden, radial_hidden, self.tp.weight_numel])
        self.norm = 1.0 / math.sqrt(avg_num_neighbors)
        if gate:
            scalars = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l == 0])
            gated = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l > 0])
            pre = scalars + o3.Irreps(f"{gated.num_irreps}x0e") + gated if gated.dim > 0 else scalars
            self.gate = Gate(scalars.dim, gated)
            self.use_gate = True
        else:
            pre = irreps_out
            self.gate = Gate(0, o3.Irreps(""))
            self.use_gate = False
        self.lin_msg = o3.Linear(irreps_mid, pre)
        self.lin_self = o3.Linear(irreps_in, pre)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, sh: torch.Tensor, radial: torch.Tensor,
                envelope: torch.Tensor) -> torch.Tensor:
        centre, neighbour = edge_index[0], edge_index[1]
        w = self.radial(radial) * envelope.unsqueeze(-1)
        msg = self.tp(h.index_select(0, neighbour), sh, w)
        agg = torch.zeros(h.shape[0], msg.shape[1], dtype=msg.dtype, device=msg.device).index_add(0, centre, msg)
        out = self.lin_self(h) + self.lin_msg(agg) * self.norm
        if self.use_gate:
            out = self.gate(out)
        return out

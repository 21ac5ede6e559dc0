"""The deployment-contract module (export/README.md): wraps a DensNet, adds forces and virial by autograd.

``torch.jit.script(ContractModel(model))`` is what ``densnet-export`` should write (with metadata: elements =
the model's element order, cutoff = ``model.cutoff``, receptive_field = ``model.receptive_field``).
"""

from __future__ import annotations

from typing import Dict, List, Optional  # noqa: UP035

import torch
from torch import nn

from .network import DensNet


class ContractModel(nn.Module):
    """forward(positions [N,3] A, types [N], edge_index [2,E], edge_shift [E,3] A, n_local []) -> Dict of
    energy [1], atom_energy [N], forces [N,3], virial [3,3], charges [N], atomic_dipoles [N,3]."""

    def __init__(self, model: DensNet) -> None:
        super().__init__()
        self.model = model
        self.cutoff = model.cutoff
        self.receptive_field = model.receptive_field

    def forward(self, positions: torch.Tensor, types: torch.Tensor, edge_index: torch.Tensor,
                edge_shift: torch.Tensor, n_local: torch.Tensor) -> Dict[str, torch.Tensor]:  # noqa: UP006
        pos = positions.detach().requires_grad_(True)
        vec = pos.index_select(0, edge_index[1]) - pos.index_select(0, edge_index[0]) + edge_shift
        out = self.model.forward_edges(types, edge_index, vec, True)
        atom_energy = out["atom_energy"]
        n = int(n_local.item())
        energy = atom_energy[:n].sum()
        grads = torch.autograd.grad([energy], [pos, vec], allow_unused=True)
        g_pos: Optional[torch.Tensor] = grads[0]  # noqa: UP045
        g_vec: Optional[torch.Tensor] = grads[1]  # noqa: UP045
        forces = torch.zeros_like(pos) if g_pos is None else -g_pos
        virial = torch.zeros(3, 3, dtype=pos.dtype, device=pos.device)
        if g_vec is not None:
            virial = -(vec.unsqueeze(-1) * g_vec.unsqueeze(-2)).sum(0)
        result: Dict[str, torch.Tensor] = {  # noqa: UP006
            "energy": energy.detach().reshape(1), "atom_energy": atom_energy.detach(), "forces": forces.detach(),
            "virial": virial.detach(), "charges": out["charges"].detach(),
            "atomic_dipoles": out["atomic_dipoles"].detach()}
        return result



    # -- halo mode (export/README.md, "Halo mode"): the model stage by stage, state exchanged between stages
    @torch.jit.export
    def halo_widths(self) -> List[int]:  # noqa: UP006
        """Widths of node states 0..receptive_field (state k is the input of stage k)."""
        return self.model.halo_widths

    @torch.jit.export
    def halo_edges(self, edge_vectors: torch.Tensor) -> List[torch.Tensor]:  # noqa: UP006
        """[sh, radial, envelope] of edge vectors [E, 3] (A): the edge features every stage uses."""
        sh, radial, env = self.model.edges(edge_vectors)
        return [sh, radial, env]

    @torch.jit.export
    def halo_embed(self, types: torch.Tensor) -> torch.Tensor:
        return self.model.halo_embed(types)

    @torch.jit.export
    def halo_stage(self, k: int, h: torch.Tensor, types: torch.Tensor, edge_index: torch.Tensor,
                   sh: torch.Tensor, radial: torch.Tensor, env: torch.Tensor,
                   n_local: int) -> List[torch.Tensor]:  # noqa: UP006
        return self.model.halo_stage(k, h, types, edge_index, sh, radial, env, n_local)

    @torch.jit.export
    def halo_readout(self, h: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        return self.model.halo_readout(h, types)

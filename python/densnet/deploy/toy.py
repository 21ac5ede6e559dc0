"""A small TorchScript-able reference model implementing the exported-model contract exactly.

It is used to test the LAMMPS plugin against the Python reference evaluator; its numbers mean nothing
physically, but it has the structure of the real model: message passing over edges with a smooth
cosine cutoff, per-atom energies from invariant features, charges from antisymmetric pair charge
transfer (total charge conserved exactly), atomic dipoles along edge vectors, forces and virial from
``torch.autograd.grad`` with respect to the edge vectors. A switched Morse pair term keeps the toy
molecules bound (H-H pairs only repel; bonds beyond an atom's valence cost energy), so short MD runs
stay physical enough to check energy conservation.

Receptive field: ``n_layers`` message-passing layers, plus one for the pair charge transfer that reads
neighbour features (energies depend on charges) = ``n_layers + 1``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .metadata import ModelMetadata, save_model

# Covalent radii (Angstrom) for the switched Morse "bonds" of the toy model; unknown elements: 0.75.
_COVALENT_RADIUS = {"H": 0.31, "C": 0.76, "N": 0.71, "O": 0.66, "F": 0.57, "S": 1.05, "Cl": 1.02}
# Valences: a smooth bond count above the valence costs energy, so atoms do not collect extra bonds.
_VALENCE = {"H": 1, "C": 4, "N": 3, "O": 2, "F": 1, "S": 2, "Cl": 1}


def _cosine_cutoff(r: torch.Tensor, rc: float) -> torch.Tensor:
    """[0.5 (cos(pi r / rc) + 1)]^2 for r < rc, else 0: value, slope and curvature vanish at rc (C2),
    which keeps velocity-Verlet energy drift small."""
    fc = 0.5 * (torch.cos(math.pi * r / rc) + 1.0)
    return torch.where(r < rc, fc * fc, torch.zeros_like(r))


def _smooth_step_down(r: torch.Tensor, r_on: torch.Tensor, r_off: torch.Tensor) -> torch.Tensor:
    """1 below r_on, 0 above r_off, quintic smoothstep in between (C2-continuous)."""
    u = ((r - r_on) / (r_off - r_on)).clamp(0.0, 1.0)
    return 1.0 - u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)


class ToyModel(nn.Module):
    """Toy densnet model. forward() follows export/README.md: positions [N,3] (A), types [N] int64,
    edge_index [2,E] int64, edge_shift [E,3] (A), n_local [] int64 -> Dict[str, Tensor]."""

    def __init__(
        self,
        elements: list[str],
        cutoff: float = 4.0,
        n_layers: int = 2,
        n_features: int = 16,
        n_radial: int = 8,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        self.elements = list(elements)
        self.cutoff = float(cutoff)
        self.n_layers = int(n_layers)
        self.receptive_field = self.n_layers + 1
        nel, nf, nr = len(elements), n_features, n_radial
        g = torch.Generator().manual_seed(seed)

        def rand(*shape: int, scale: float) -> nn.Parameter:
            return nn.Parameter(torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype) * scale)

        self.embedding = rand(nel, nf, scale=1.0)
        self.register_buffer("rbf_centres", torch.linspace(0.5, cutoff, nr, dtype=dtype))
        self.rbf_width = float(cutoff - 0.5) / (nr - 1)
        self.filter_w = rand(n_layers, nr, nf, scale=0.5 / math.sqrt(nr))
        self.mix_w = rand(n_layers, nf, nf, scale=0.5 / math.sqrt(nf))
        self.energy_w1 = rand(nf, nf, scale=1.0 / math.sqrt(nf))
        self.energy_w2 = rand(nf, scale=1.0 / math.sqrt(nf))
        self.charge_u = rand(nf, scale=1.0 / math.sqrt(nf))
        self.charge_radial = rand(nr, scale=1.0 / math.sqrt(nr))
        self.dipole_u = rand(nf, scale=1.0 / math.sqrt(nf))
        self.dipole_radial = rand(nr, scale=1.0 / math.sqrt(nr))
        # Output scales: the learned-looking parts stay bounded (tanh), so MD cannot run away.
        self.energy_scale = 0.2  # eV
        self.charge_scale = 0.2  # e
        self.dipole_scale = 0.05  # e
        self.charge_energy = 0.5  # eV / e^2
        # Switched Morse pair term: depth (eV), width (1/A), r0 = sum of covalent radii (A).
        # No H-H well (H atoms of one molecule would otherwise fuse): H-H pairs only repel.
        radii = torch.tensor([_COVALENT_RADIUS.get(e, 0.75) for e in elements], dtype=dtype)
        is_h = torch.tensor([e == "H" for e in elements])
        self.register_buffer("bond_r0", radii[:, None] + radii[None, :])
        self.register_buffer("bond_well", (~(is_h[:, None] & is_h[None, :])).to(dtype))
        self.register_buffer("valence", torch.tensor([float(_VALENCE.get(e, 4)) for e in elements], dtype=dtype))
        self.valence_penalty = 3.0  # eV per (excess bond)^3 (cubic: C2-continuous)
        self.bond_depth = 2.0
        self.bond_alpha = 2.5

    def forward(
        self,
        positions: torch.Tensor,
        types: torch.Tensor,
        edge_index: torch.Tensor,
        edge_shift: torch.Tensor,
        n_local: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        n = positions.shape[0]
        i = edge_index[0]
        j = edge_index[1]
        vec = positions.index_select(0, j) - positions.index_select(0, i) + edge_shift
        vec = vec.detach().requires_grad_(True)  # forces/virial: gradients w.r.t. edge vectors
        r = torch.sqrt((vec * vec).sum(-1))
        fc = _cosine_cutoff(r, self.cutoff)
        rbf = torch.exp(-(((r[:, None] - self.rbf_centres) / self.rbf_width) ** 2)) * fc[:, None]

        h = self.embedding.index_select(0, types)
        for layer in range(self.n_layers):
            msg = (rbf @ self.filter_w[layer]) * h.index_select(0, j)
            agg = torch.zeros_like(h).index_add(0, i, msg)
            h = h + torch.nn.functional.silu(agg @ self.mix_w[layer])

        # Pair charge transfer t_ij = g(r_ij) (s_i - s_j) = -t_ji: sum_i q_i = 0 exactly.
        s = torch.tanh(h @ self.charge_u)
        t = self.charge_scale * (rbf @ self.charge_radial) * (s.index_select(0, i) - s.index_select(0, j))
        charges = torch.zeros_like(s).index_add(0, i, t)
        # Atomic dipoles: p_i = sum_j c_ij r_ij with a scalar c_ij.
        d = torch.tanh(h @ self.dipole_u)
        c = self.dipole_scale * (rbf @ self.dipole_radial) * (d.index_select(0, i) + d.index_select(0, j))
        dipoles = torch.zeros_like(positions).index_add(0, i, c[:, None] * vec)

        # Switched Morse bonds, half of each pair energy on each of its two directed edges.
        ti = types.index_select(0, i)
        tj = types.index_select(0, j)
        r0 = self.bond_r0[ti, tj]
        x = torch.exp(-self.bond_alpha * (r - r0))
        morse = self.bond_depth * (x * x - 2.0 * self.bond_well[ti, tj] * x)
        bonded = _smooth_step_down(r, 1.15 * r0, 1.55 * r0)
        pair = 0.5 * morse * bonded
        n_bonds = torch.zeros_like(s).index_add(0, i, bonded * self.bond_well[ti, tj])
        excess = torch.relu(n_bonds - self.valence.index_select(0, types))
        atom_energy = self.energy_scale * torch.tanh(torch.nn.functional.silu(h @ self.energy_w1) @ self.energy_w2)
        atom_energy = atom_energy + self.charge_energy * charges * charges
        atom_energy = atom_energy + self.valence_penalty * excess * excess * excess
        atom_energy = atom_energy.index_add(0, i, pair)

        nl = int(n_local.item())
        energy = atom_energy[:nl].sum().reshape(1)
        grad = torch.zeros_like(vec)
        if energy.requires_grad:
            g = torch.autograd.grad([energy], [vec], allow_unused=True)[0]
            if g is not None:
                grad = g
        forces = torch.zeros_like(positions).index_add(0, i, grad).index_add(0, j, -grad)
        virial = -(vec.detach().transpose(0, 1) @ grad)
        assert forces.shape[0] == n
        return {
            "energy": energy.detach(),
            "atom_energy": atom_energy.detach(),
            "forces": forces.detach(),
            "virial": virial.detach(),
            "charges": charges.detach(),
            "atomic_dipoles": dipoles.detach(),
        }

    def metadata(self) -> ModelMetadata:
        """Metadata describing this model for the exported file."""
        dtype = "float64" if self.embedding.dtype == torch.float64 else "float32"
        return ModelMetadata(
            elements=tuple(self.elements),
            cutoff=self.cutoff,
            receptive_field=self.receptive_field,
            dtype=dtype,
            basis="none (toy model)",
            level_of_theory="none (random seeded toy model)",
        )


def export_toy_model(path, elements: list[str] = ("C", "H", "O"), **kwargs) -> ToyModel:  # noqa: B006
    """Build a seeded :class:`ToyModel` and save it (TorchScript + metadata) to ``path``."""
    model = ToyModel(list(elements), **kwargs)
    save_model(model, path, model.metadata())
    return model

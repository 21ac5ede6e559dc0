"""The densnet model: density network (SAD + Delta coefficients) followed by the energy network.

``DensNet.forward(positions, types, edge_index, edge_shift)`` follows the deployment contract inputs and uses
positions only through edge vectors r_ij = pos[j] - pos[i] + shift. TorchScript-compatible
(``torch.jit.script(model)``). receptive_field = density layers + 1 (pair charge transfer reads neighbour
features) + energy layers.
"""

from __future__ import annotations

from typing import Dict, List  # noqa: UP035  (TorchScript needs typing.Dict)

import numpy as np
import torch
from e3nn import o3
from torch import nn

from .. import keys as K
from .density_head import DensityHead
from .embedding import EdgeEmbedding, ElementEmbedding
from .energy_head import CoefficientEmbedding, EnergyReadout
from .interaction import Interaction, natural_irreps
from .layout import BasisTables
from .observables import BOHR, atomic_charges, atomic_dipoles
from .product import ProductBlock

#: Buffers kept in float64 in float32 models too (exact electron count).
PRECISE_BUFFERS = ("sad", "n_int", "d_int", "z")

#: Submodules of the density network (the rest, apart from buffers, is the energy network).
DENSITY_MODULES = ("edges", "density_embedding", "density_layers", "density_head")

#: What the energy network's node features start from: the predicted Delta coefficients, or the element only.
ENERGY_INPUTS = ("density", "elements")

#: Default hyper-parameters (small: trains on 2 CPU cores). Lengths in Angstrom.
DEFAULT_MODEL: dict = {
    "cutoff": 4.0,
    "n_radial": 8,
    "radial_hidden": 16,
    "avg_num_neighbors": 8.0,
    "density_layers": 2,
    "density_scalars": 16,
    "density_vectors": 8,
    "density_lmax": 2,
    "density_out_mul": 8,
    "energy_layers": 2,
    "energy_scalars": 16,
    "energy_vectors": 8,
    "energy_lmax": 2,
    "readout_hidden": 16,
    "energy_radial_hidden": 0,  # width of the energy layers' radial MLPs; 0: radial_hidden
    "energy_correlation": 1,  # > 1: a ProductBlock (body order up to this + 1 per layer) after each energy layer
    "mlp_init": "torch",  # "normalized": unit-variance initialisation of every MLP (interaction.MLP)
    "energy_input": "density",  # "elements": the energy network ignores the density (ablation: a plain potential)
    "energy_residual": False,  # True: each energy layer adds its output to its input (h + layer(h), as in ResNets)
}


class DensNet(nn.Module):
    """Density + energy network for the elements of ``element_irreps`` (model type order).

    element_irreps: per element, the e3nn irreps of its density basis (``ElementBasis.irreps``); f_max: padded
    coefficient width. Per-element tables (change of basis, SAD, integrals) and normalisation constants are
    buffers, filled by :meth:`set_tables` / :meth:`set_normalisation` and saved in the state dict.
    """

    def __init__(self, element_irreps: list[str], f_max: int, config: dict | None = None,
                 elements: list[str] | None = None, density_basis: dict | None = None) -> None:
        super().__init__()
        cfg = {**DEFAULT_MODEL, **(config or {})}
        self.config = cfg
        self.element_irreps = list(element_irreps)
        self.elements: list[str] = list(elements) if elements else [f"T{k}" for k in range(len(element_irreps))]
        self.density_basis: dict = dict(density_basis or {})  # {symbol: PySCF basis}, for density on points
        n_types = len(element_irreps)
        basis_lmax = max(ir.l for s in element_irreps for _, ir in o3.Irreps(s))
        self.cutoff = float(cfg["cutoff"])
        self.bohr = BOHR
        self.receptive_field = int(cfg["density_layers"]) + 1 + int(cfg["energy_layers"])
        nr, rh, avg = int(cfg["n_radial"]), int(cfg["radial_hidden"]), float(cfg["avg_num_neighbors"])

        # one edge embedding (spherical harmonics up to the largest l needed, radial basis, envelope) shared by
        # both networks
        ds = int(cfg["density_scalars"])
        e_lmax = int(cfg["energy_lmax"])
        self.edges = EdgeEmbedding(max(basis_lmax, e_lmax), self.cutoff, nr)
        layers = []
        mi = str(cfg.get("mlp_init", "torch"))
        irreps = o3.Irreps(f"{ds}x0e")
        self.density_embedding = ElementEmbedding(n_types, ds)
        for k in range(int(cfg["density_layers"])):
            last = k == int(cfg["density_layers"]) - 1
            out = (natural_irreps(ds, int(cfg["density_out_mul"]), basis_lmax) if last
                   else natural_irreps(ds, int(cfg["density_vectors"]), int(cfg["density_lmax"])))
            lsh = min(basis_lmax, max(ir.l for _, ir in irreps) + max(ir.l for _, ir in out))
            layers.append(Interaction(irreps, lsh, out, nr, rh, avg, gate=not last, mlp_init=mi))
            irreps = out
        self.density_layers = nn.ModuleList(layers)
        self.density_head = DensityHead(irreps, self.element_irreps, nr, rh, mlp_init=mi)

        # energy network (all layers have equal irreps: they share the per-edge Clebsch-Gordan x Y products)
        es = int(cfg["energy_scalars"])
        e_irreps = natural_irreps(es, int(cfg["energy_vectors"]), e_lmax)
        self.coeff_embedding = CoefficientEmbedding(self.element_irreps, e_irreps)
        erh = int(cfg.get("energy_radial_hidden", 0)) or rh
        self.energy_layers = nn.ModuleList([
            Interaction(e_irreps, e_lmax, e_irreps, nr, erh, avg, gate=True, mlp_init=mi)
            for _ in range(int(cfg["energy_layers"]))])
        if cfg.get("energy_input", "density") not in ENERGY_INPUTS:
            raise ValueError(f"energy_input must be one of {ENERGY_INPUTS}, got {cfg['energy_input']!r}")
        self.energy_reads_density: bool = cfg.get("energy_input", "density") == "density"
        self.energy_residual: bool = bool(cfg.get("energy_residual", False))
        corr = int(cfg.get("energy_correlation", 1))
        self.energy_products = nn.ModuleList([ProductBlock(e_irreps, n_types, corr, es)
                                              for _ in range(int(cfg["energy_layers"]) if corr > 1 else 0)])
        self.readout = EnergyReadout(es, int(cfg["readout_hidden"]), mlp_init=mi)
        # widths of the node states exchanged between MPI ranks in halo mode (see halo_stage): embedding,
        # each density layer, the energy embedding (after the density head), each energy layer
        self.halo_widths: List[int] = [ds] + [o3.Irreps(layer.irreps_out).dim for layer in layers] + \
            [e_irreps.dim] * (1 + int(cfg["energy_layers"]))  # noqa: UP006

        dt = torch.get_default_dtype()
        # electron bookkeeping tables stay float64 whatever the model dtype (see _apply)
        for name, shape in (("sad", (n_types, f_max)), ("n_int", (n_types, f_max)), ("d_int", (n_types, f_max, 3)),
                            ("z", (n_types,))):
            self.register_buffer(name, torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("energy_shift", torch.zeros(n_types, dtype=dt))
        self.register_buffer("coeff_scale", torch.ones(n_types, f_max, dtype=dt))
        self.register_buffer("energy_scale", torch.ones((), dtype=dt))

    def _apply(self, fn, recurse=True):  # noqa: ANN001, ANN202
        """Module.to/float/double/cuda: the float64 bookkeeping buffers change device but never dtype."""
        keep = {k: self._buffers[k] for k in PRECISE_BUFFERS}
        super()._apply(fn, recurse)
        for k, v in keep.items():
            self._buffers[k] = v.to(device=self._buffers[k].device, dtype=torch.float64)
        return self

    # ------------------------------------------------------------------ set-up (Python only)
    def set_tables(self, tables: BasisTables) -> None:
        """Copy per-element basis tables (layout.build_tables) into the buffers."""
        for name in PRECISE_BUFFERS:
            buf = getattr(self, name)
            buf.copy_(torch.as_tensor(getattr(tables, name), dtype=buf.dtype))

    def set_normalisation(self, coeff_scale: np.ndarray, energy_shift: np.ndarray, energy_scale: float) -> None:
        """coeff_scale [T, F] (per-shell RMS of Delta targets), energy_shift [T] (eV/atom), energy_scale (eV)."""
        self.coeff_scale.copy_(torch.as_tensor(coeff_scale, dtype=self.coeff_scale.dtype))
        self.energy_shift.copy_(torch.as_tensor(energy_shift, dtype=self.energy_shift.dtype))
        self.energy_scale.fill_(float(energy_scale))

    @torch.jit.unused
    def inputs(self, atoms) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(positions, types, edge_index, edge_shift) tensors of an ASE Atoms object in the model's dtype."""
        from ..neighbors import check_min_distance, neighbor_graph

        dt, dev = self.energy_scale.dtype, self.energy_scale.device
        symbols = atoms.get_chemical_symbols()
        unknown = sorted(set(symbols) - set(self.elements))
        if unknown:
            from ..errors import DensnetError

            raise DensnetError(f"elements {unknown} are not in the model (trained on {self.elements})")
        types = torch.tensor([self.elements.index(s) for s in symbols], device=dev)
        ei, shift = neighbor_graph(atoms.positions, self.cutoff, atoms.cell.array, atoms.pbc)
        check_min_distance(atoms.positions, ei, shift)
        return (torch.tensor(atoms.positions, dtype=dt, device=dev), types, torch.tensor(ei, device=dev),
                torch.tensor(shift, dtype=dt, device=dev))

    @torch.jit.unused
    def flat_coefficients(self, atoms) -> np.ndarray:
        """Predicted density coefficients of ``atoms``, concatenated in PySCF order (as densnet.dataset stores)."""
        from .observables import flat_coefficients

        inp = self.inputs(atoms)
        with torch.no_grad():
            out = self.forward(inp[0], inp[1], inp[2], inp[3], False)
        nf = [o3.Irreps(s).dim for s in self.element_irreps]
        return flat_coefficients(out[K.COEFFS].double().cpu().numpy(), inp[1].cpu().numpy(), nf)

    @torch.jit.unused
    def density(self, atoms, points) -> np.ndarray:
        """Predicted electron density (e/A^3) at ``points`` [P, 3] (A). Needs ``self.density_basis``."""
        from .observables import density_on_points

        return density_on_points(atoms.numbers, atoms.positions, self.density_basis,
                                 self.flat_coefficients(atoms), points)

    def density_parameters(self) -> list[nn.Parameter]:
        mods = [getattr(self, name) for name in DENSITY_MODULES]
        return [p for m in mods for p in m.parameters()]

    def energy_parameters(self) -> list[nn.Parameter]:
        mods = [self.coeff_embedding, self.energy_layers, self.energy_products, self.readout]
        return [p for m in mods for p in m.parameters()]

    # ------------------------------------------------------------------ scriptable forward
    def density_from_edges(self, types: torch.Tensor, edge_index: torch.Tensor,
                           edge_vectors: torch.Tensor) -> Dict[str, torch.Tensor]:  # noqa: UP006
        """Coefficients [N, F] (PySCF order), Delta [N, F], charge transfer [N], charges [N], atomic dipoles [N, 3]."""
        sh, radial, env = self.edges(edge_vectors)
        return self._density(types, edge_index, sh, radial, env)

    def _density(self, types: torch.Tensor, edge_index: torch.Tensor, sh: torch.Tensor, radial: torch.Tensor,
                 env: torch.Tensor) -> Dict[str, torch.Tensor]:  # noqa: UP006
        h = self.density_embedding(types)
        for layer in self.density_layers:
            h, _ = layer(h, edge_index, sh, radial, env, [])
        coeffs, delta, q = self.density_head(h, types, edge_index, radial, env, self.coeff_scale, self.sad,
                                             self.n_int)
        dt = h.dtype
        return {K.COEFFS: coeffs.to(dt), K.DELTA_COEFFS: delta.to(dt), K.CHARGE_TRANSFER: q,
                K.CHARGES: atomic_charges(coeffs, types, self.z, self.n_int).to(dt),
                K.ATOMIC_DIPOLES: atomic_dipoles(coeffs, types, self.d_int, self.bohr).to(dt)}

    def _energy(self, delta: torch.Tensor, types: torch.Tensor, edge_index: torch.Tensor, sh: torch.Tensor,
                radial: torch.Tensor, env: torch.Tensor) -> torch.Tensor:
        h = self._energy_embedding(delta, types)
        basis: List[torch.Tensor] = []  # noqa: UP006
        for i, layer in enumerate(self.energy_layers):
            out, basis = layer(h, edge_index, sh, radial, env, basis)
            h = self._energy_update(i, h, out, types)
        return self.readout(h, types, self.energy_scale, self.energy_shift)

    def _energy_embedding(self, delta: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """Energy-network node features [N, D] from Delta [N, F] (from zeros when energy_input is 'elements')."""
        if not self.energy_reads_density:
            delta = torch.zeros_like(delta)
        return self.coeff_embedding(delta, types, self.coeff_scale)

    def _energy_update(self, i: int, h: torch.Tensor, out: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """Node features after energy layer i [N, D]: its output ``out`` (+ its input ``h`` when energy_residual),
        then the layer's many-body block."""
        if self.energy_residual:
            out = out + h
        return self._product(i, out, types)

    def _product(self, i: int, h: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """The many-body block of energy layer i (identity when energy_correlation is 1)."""
        for j, block in enumerate(self.energy_products):
            if j == i:
                h = block(h, types)
        return h

    def energy_from_edges(self, delta: torch.Tensor, types: torch.Tensor, edge_index: torch.Tensor,
                          edge_vectors: torch.Tensor) -> torch.Tensor:
        """Per-atom energies [N] (eV) from Delta coefficients [N, F] and the geometry."""
        sh, radial, env = self.edges(edge_vectors)
        return self._energy(delta, types, edge_index, sh, radial, env)

    def forward_edges(self, types: torch.Tensor, edge_index: torch.Tensor, edge_vectors: torch.Tensor,
                      compute_energy: bool = True) -> Dict[str, torch.Tensor]:  # noqa: UP006
        """Both networks on one edge embedding (spherical harmonics and radial basis computed once)."""
        sh, radial, env = self.edges(edge_vectors)
        out = self._density(types, edge_index, sh, radial, env)
        if compute_energy:
            out[K.ATOM_ENERGY] = self._energy(out[K.DELTA_COEFFS], types, edge_index, sh, radial, env)
        return out

    def forward(self, positions: torch.Tensor, types: torch.Tensor, edge_index: torch.Tensor,
                edge_shift: torch.Tensor, compute_energy: bool = True) -> Dict[str, torch.Tensor]:  # noqa: UP006
        """Contract inputs (see keys.py) -> per-atom outputs: coeffs, charges, atomic_dipoles, atom_energy."""
        vec = positions.index_select(0, edge_index[1]) - positions.index_select(0, edge_index[0]) + edge_shift
        return self.forward_edges(types, edge_index, vec, compute_energy)


    # ------------------------------------------------------------------ per-layer (halo) evaluation
    # The model as receptive_field stages, each a function of the previous node state of the atoms within one
    # cutoff: LAMMPS' halo mode exchanges the state between MPI ranks after every stage (ghost shell = one
    # cutoff) and runs the backward pass stage by stage (export/README.md, "Halo mode").
    def halo_embed(self, types: torch.Tensor) -> torch.Tensor:
        """Node state 0 [N, halo_widths[0]] (depends on the element only)."""
        return self.density_embedding(types)

    def halo_stage(self, k: int, h: torch.Tensor, types: torch.Tensor, edge_index: torch.Tensor, sh: torch.Tensor,
                   radial: torch.Tensor, env: torch.Tensor, n_local: int) -> List[torch.Tensor]:  # noqa: UP006
        """Stage k (0-based) for the first ``n_local`` atoms: [state k+1 [n_local, halo_widths[k+1]], aux].

        h [N, halo_widths[k]]: state k of every atom; edges must be centred on atoms < n_local and reach all
        their neighbours. aux [n_local, 4] = (charge e, atomic dipole e*A) from the density-head stage
        (k = density_layers), [n_local, 0] otherwise.
        """
        nd = len(self.density_layers)
        out = h[:0]
        aux = torch.zeros(n_local, 0, dtype=h.dtype, device=h.device)
        for i, layer in enumerate(self.density_layers):
            if i == k:
                out, _ = layer(h, edge_index, sh, radial, env, [])
        if k == nd:
            coeffs, delta, _ = self.density_head(h, types, edge_index, radial, env, self.coeff_scale, self.sad,
                                                 self.n_int)
            t = types[:n_local]
            c = coeffs[:n_local]
            aux = torch.cat([atomic_charges(c, t, self.z, self.n_int).unsqueeze(1),
                             atomic_dipoles(c, t, self.d_int, self.bohr)], dim=1).to(h.dtype)
            out = self._energy_embedding(delta[:n_local].to(h.dtype), t)
        for i, layer in enumerate(self.energy_layers):
            if i == k - nd - 1:
                out, _ = layer(h, edge_index, sh, radial, env, [])
                out = self._energy_update(i, h, out, types)
        if out.shape[0] == 0 and n_local > 0:
            raise RuntimeError("halo_stage: stage index out of range")
        return [out[:n_local], aux]

    def halo_readout(self, h: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """Per-atom energies [n] (eV) from the last node state [n, halo_widths[-1]]."""
        return self.readout(h, types, self.energy_scale, self.energy_shift)


def build_model(tables: BasisTables, config: dict | None = None, density_basis: dict | None = None) -> DensNet:
    """A DensNet for ``tables.elements`` with basis tables filled in (normalisation left at identity)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn's Clebsch-Gordan buffers in full precision; cast later
    try:
        model = DensNet(tables.irreps, tables.max_functions, config, tables.elements, density_basis)
    finally:
        torch.set_default_dtype(old)
    model.set_tables(tables)
    return model


def compute_properties(model: DensNet, positions: torch.Tensor, types: torch.Tensor, edge_index: torch.Tensor,
                       edge_shift: torch.Tensor, batch: torch.Tensor, num_graphs: int, forces: bool = True,
                       energy: bool = True, create_graph: bool = False) -> dict[str, torch.Tensor]:
    """Batched evaluation: per-atom outputs plus energy [B], forces [N, 3], virial [B, 3, 3], dipole [B, 3]."""
    from .observables import molecular_dipole

    if forces:
        positions = positions.detach().requires_grad_(True)
    vec = positions.index_select(0, edge_index[1]) - positions.index_select(0, edge_index[0]) + edge_shift
    out = model.forward_edges(types, edge_index, vec, compute_energy=energy or forces)
    out = dict(out)
    out[K.DIPOLE] = molecular_dipole(out[K.CHARGES], out[K.ATOMIC_DIPOLES], positions, batch, num_graphs)
    if energy or forces:
        e = torch.zeros(num_graphs, dtype=positions.dtype, device=positions.device)
        out[K.ENERGY] = e.index_add(0, batch, out[K.ATOM_ENERGY])
    if forces:
        g_pos, g_vec = torch.autograd.grad(out[K.ENERGY].sum(), [positions, vec], create_graph=create_graph)
        out[K.FORCES] = -g_pos
        w = -(vec.unsqueeze(-1) * g_vec.unsqueeze(-2))  # [E, 3, 3]
        eb = batch.index_select(0, edge_index[0])
        out[K.VIRIAL] = torch.zeros(num_graphs, 3, 3, dtype=w.dtype, device=w.device).index_add(0, eb, w)
    return out

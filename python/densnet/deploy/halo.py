"""Halo mode in Python: the exported model evaluated stage by stage over simulated MPI domains.

This is the algorithm of ``pair_style densnet mode halo`` (lammps_plugin/src/pair_densnet.cpp), written
with explicit "communication" so that it can be checked against the plain model (tests/model/test_halo.py)
and read next to the C++ code. Each rank owns some atoms ("local") and sees every periodic image of any atom
within one cutoff of them ("ghosts"). With S = receptive_field stages (``halo_stage`` of the exported module):

forward   state_0 = halo_embed(types) on all atoms of the rank;
          for k < S: out_k = halo_stage(k, state_k, ...) for the locals (edges centred on locals only), then
          forward communication: every ghost gets the row its owner computed -> state_{k+1};
          atom energies = halo_readout(state_S[locals]); E = sum over all ranks.
backward  g_S = dE/d state_S[locals]; for k = S-1..1: autograd of out_k with grad g_{k+1} gives d/d state_k
          for all atoms of the rank; reverse communication adds ghost rows to their owners' rows -> g_k.
          Edge-feature gradients are accumulated over the stages and turned into dE/dr_ij at the end:
          forces F_i += dE/dr_ij, F_j -= dE/dr_ij (j a ghost: added to its owner), virial -sum r_ij (x) dE/dr_ij.
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms

from .metadata import ModelMetadata
from .reference import build_graph, types_of


def halo_evaluate(module, atoms: Atoms, owner: np.ndarray, metadata: ModelMetadata,
                  device: str = "cpu", recompute: bool = False) -> dict[str, np.ndarray]:
    """Energy [1], atom_energy [N], forces [N, 3], virial [3, 3], charges [N], atomic_dipoles [N, 3] of
    ``atoms``, each atom computed by the rank ``owner[i]`` that owns it (ranks 0..max(owner)); float64 numpy
    arrays, units as in :func:`densnet.deploy.reference.evaluate`; ``device``: where the module runs;
    ``recompute``: keep no graph in the forward stages and re-run each stage in its backward (pair_style
    densnet recompute yes)."""
    dtype = metadata.torch_dtype
    (i_all, j_all), _, s_all = build_graph(atoms, metadata.cutoff)
    box = np.asarray(atoms.cell.array) if atoms.pbc.any() else np.zeros((3, 3))
    positions = np.asarray(atoms.positions, float)
    types = types_of(atoms, metadata.elements)
    n = len(atoms)
    ranks = []
    for r in range(int(owner.max()) + 1):
        local = np.flatnonzero(owner == r)
        index = {(int(a), 0, 0, 0): k for k, a in enumerate(local)}
        atoms = [(int(a), (0, 0, 0)) for a in local]
        centres, neighbours, shifts = [], [], []
        sel = np.flatnonzero(owner[i_all] == r)
        for e in sel:
            key = (int(j_all[e]), *map(int, s_all[e]))
            if key not in index:  # a ghost: another rank's atom, or a periodic image of any atom
                index[key] = len(atoms)
                atoms.append((int(j_all[e]), tuple(map(int, s_all[e]))))
            centres.append(index[(int(i_all[e]), 0, 0, 0)])
            neighbours.append(index[key])
            shifts.append(s_all[e])
        orig = np.array([a for a, _ in atoms], np.int64)
        pos = positions[orig] + np.array([s for _, s in atoms], float).reshape(-1, 3) @ box
        ranks.append({"local": local, "orig": orig, "pos": pos,
                      "edge_index": torch.tensor(np.array([centres, neighbours], np.int64).reshape(2, -1),
                                                 device=device),
                      "types": torch.as_tensor(types[orig], device=device),
                      "index": torch.as_tensor(orig, device=device), "local_t": torch.as_tensor(local, device=device)})
    widths = module.halo_widths()
    n_stages = len(widths) - 1

    # forward
    charges, dipoles = np.zeros(n), np.zeros((n, 3))
    for rk in ranks:
        ei = rk["edge_index"]
        pos = torch.as_tensor(rk["pos"], dtype=dtype, device=device)
        rk["vec"] = (pos[ei[1]] - pos[ei[0]]).requires_grad_(True)
        rk["edge"] = [t for t in module.halo_edges(rk["vec"])]
        rk["leaf"] = [module.halo_embed(rk["types"]).detach()]
        rk["out"] = []
    for k in range(n_stages):
        state = torch.zeros(n, widths[k + 1], dtype=dtype, device=device)  # what each owner computed
        for rk in ranks:
            nl = len(rk["local"])
            with torch.set_grad_enabled(not recompute):
                out, aux = module.halo_stage(k, rk["leaf"][k], rk["types"], rk["edge_index"], *rk["edge"], nl)
            rk["out"].append(None if recompute else out)
            state[rk["local_t"]] = out.detach()
            if aux.shape[1] == 4:
                charges[rk["local"]] = aux[:, 0].detach().cpu().double().numpy()
                dipoles[rk["local"]] = aux[:, 1:].detach().cpu().double().numpy()
        for rk in ranks:  # forward communication
            rk["leaf"].append(state[rk["index"]].clone().requires_grad_(True))
    atom_energy = np.zeros(n)
    grad_state = torch.zeros(n, widths[-1], dtype=dtype, device=device)
    for rk in ranks:
        nl = len(rk["local"])
        last = rk["leaf"][n_stages][:nl]
        e = module.halo_readout(last, rk["types"][:nl])
        atom_energy[rk["local"]] = e.detach().cpu().double().numpy()
        (g,) = torch.autograd.grad(e.sum(), [rk["leaf"][n_stages]])
        grad_state.index_add_(0, rk["index"], g)  # reverse communication (readout: locals only)

    # backward, stage by stage
    edge_grads = [[torch.zeros_like(t) for t in rk["edge"]] for rk in ranks]
    for k in range(n_stages - 1, -1, -1):
        new = torch.zeros(n, widths[k], dtype=dtype, device=device)
        for r, rk in enumerate(ranks):
            want = [rk["leaf"][k]] + rk["edge"] if k > 0 else rk["edge"]
            out = rk["out"][k]
            if recompute:
                out = module.halo_stage(k, rk["leaf"][k], rk["types"], rk["edge_index"], *rk["edge"],
                                        len(rk["local"]))[0]
            gs = torch.autograd.grad([out], want, [grad_state[rk["local_t"]]], retain_graph=True, allow_unused=True)
            for m, g in enumerate(gs[1:] if k > 0 else gs):
                if g is not None:
                    edge_grads[r][m] += g
            if k > 0:
                new.index_add_(0, rk["index"], gs[0])  # reverse communication
        grad_state = new

    forces, virial = np.zeros((n, 3)), np.zeros((3, 3))
    for r, rk in enumerate(ranks):
        (g_vec,) = torch.autograd.grad(rk["edge"], [rk["vec"]], edge_grads[r])
        g = g_vec.detach().cpu().double().numpy()
        ei = rk["edge_index"].cpu().numpy()
        np.add.at(forces, rk["orig"][ei[0]], g)
        np.add.at(forces, rk["orig"][ei[1]], -g)
        virial -= rk["vec"].detach().cpu().double().numpy().T @ g
    return {"energy": np.array([atom_energy.sum()]), "atom_energy": atom_energy, "forces": forces, "virial": virial,
            "charges": charges, "atomic_dipoles": dipoles}

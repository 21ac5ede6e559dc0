"""Pure-Python reference evaluation of an exported model on ASE Atoms (what LAMMPS is compared to)."""

from __future__ import annotations

import numpy as np
import torch
import vesin
from ase import Atoms

from .metadata import ModelMetadata

OUTPUT_KEYS = ("energy", "atom_energy", "forces", "virial", "charges", "atomic_dipoles")


def build_graph(atoms: Atoms, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full (both directions) neighbour list of ``atoms`` within ``cutoff`` (Angstrom).

    Returns edge_index [2,E] int64 (centre i, neighbour j), edge_shift [E,3] (Angstrom, the periodic
    image offset S @ cell so that r_ij = x_j - x_i + shift) and the integer image shifts S [E,3].
    Gas phase (no periodic direction) is supported; mixed periodicity is passed through to vesin.
    """
    pbc = np.asarray(atoms.pbc, dtype=bool)
    positions = np.asarray(atoms.positions, dtype=np.float64)
    if pbc.any():
        box = np.asarray(atoms.cell.array, dtype=np.float64)
    else:
        box = np.zeros((3, 3))
    nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    i, j, shifts = nl.compute(points=positions, box=box, periodic=pbc.tolist(), quantities="ijS")
    shifts = np.asarray(shifts, dtype=np.int64).reshape(-1, 3)
    edge_index = np.stack([np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)])
    edge_shift = shifts.astype(np.float64) @ box
    return edge_index, edge_shift, shifts


def types_of(atoms: Atoms, elements: tuple[str, ...] | list[str]) -> np.ndarray:
    """Model type index [N] of each atom; KeyError naming unknown elements."""
    index = {e: k for k, e in enumerate(elements)}
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(index))
    if unknown:
        raise KeyError(f"elements {unknown} are not in the model (it knows {list(elements)})")
    return np.array([index[s] for s in symbols], dtype=np.int64)


def evaluate(module: torch.nn.Module, atoms: Atoms, metadata: ModelMetadata) -> dict[str, np.ndarray]:
    """Run ``module`` on all atoms (all local, shift-mode graph) and return numpy outputs.

    Units: energy/atom_energy eV, forces eV/A, virial eV [3,3], charges e, atomic_dipoles e*A.
    """
    dtype = metadata.torch_dtype
    edge_index, edge_shift, _ = build_graph(atoms, metadata.cutoff)
    out = module(
        torch.as_tensor(atoms.positions, dtype=dtype),
        torch.as_tensor(types_of(atoms, metadata.elements)),
        torch.as_tensor(edge_index),
        torch.as_tensor(edge_shift, dtype=dtype),
        torch.tensor(len(atoms), dtype=torch.int64),
    )
    return {k: out[k].detach().to(torch.float64).numpy().copy() for k in OUTPUT_KEYS}


def total_dipole(atoms: Atoms, result: dict[str, np.ndarray]) -> np.ndarray:
    """mu = sum_A q_A R_A + p_A (e*A) with the positions of ``atoms`` as given (unwrapped by caller)."""
    return result["charges"] @ np.asarray(atoms.positions) + result["atomic_dipoles"].sum(axis=0)

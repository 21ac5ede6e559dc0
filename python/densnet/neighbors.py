"""Neighbour lists (vesin) for gas-phase and periodic systems."""

from __future__ import annotations

import numpy as np

#: Atoms closer than this (A) are refused everywhere (labelling, models, stability checks): no training data
#: lies there, so a model's answer would be meaningless (usually an MD blow-up or positions not in Angstrom).
MIN_DISTANCE = 0.5


def neighbor_graph(positions: np.ndarray, cutoff: float, cell: np.ndarray | None = None,
                   pbc: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Full neighbour list within ``cutoff`` (A): edge_index [2, E] (centre i, neighbour j), edge_shift [E, 3]
    (A) with r_ij = x_j - x_i + shift. Gas phase when ``pbc`` is None or all False."""
    import vesin

    positions = np.asarray(positions, dtype=np.float64)
    periodic = np.zeros(3, bool) if pbc is None else np.asarray(pbc, dtype=bool)
    box = np.asarray(cell, dtype=np.float64) if periodic.any() else np.zeros((3, 3))
    nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    i, j, s = nl.compute(points=positions, box=box, periodic=periodic.tolist() if periodic.any() else False,
                         quantities="ijS")
    edge_index = np.stack([np.asarray(i, np.int64), np.asarray(j, np.int64)])
    shift = np.asarray(s, dtype=np.float64).reshape(-1, 3) @ box
    return edge_index, shift


def check_min_distance(positions: np.ndarray, edge_index: np.ndarray, edge_shift: np.ndarray,
                       limit: float = MIN_DISTANCE) -> None:
    """Raise DensnetError naming the closest pair of atoms when it is closer than ``limit`` (A)."""
    if edge_index.shape[1] == 0:
        return
    d = np.linalg.norm(positions[edge_index[1]] - positions[edge_index[0]] + edge_shift, axis=1)
    e = int(np.argmin(d))
    if d[e] < limit:
        from .errors import DensnetError

        i, j = int(edge_index[0, e]), int(edge_index[1, e])
        raise DensnetError(f"atoms {i} and {j} are {d[e]:.3f} A apart (closer than {limit} A): outside anything "
                           "a densnet model is trained on (an MD blow-up, or positions not in Angstrom?)")

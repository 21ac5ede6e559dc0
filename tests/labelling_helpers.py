"""Helpers shared by the data-side tests."""

from __future__ import annotations

import numpy as np
from ase import Atoms


def jitter(atoms: Atoms, n: int, amplitude: float = 0.05, seed: int = 0) -> list[Atoms]:
    """``n`` randomly displaced copies (A), each its own trajectory id."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a = atoms.copy()
        a.positions += rng.normal(0.0, amplitude, a.positions.shape)
        a.info["traj"] = f"t{k}"
        out.append(a)
    return out

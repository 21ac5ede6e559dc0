"""Shared fixtures: tiny molecules and a small labelled dataset made with the real PySCF."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
from ase import Atoms
from ase.build import molecule

from labelling_helpers import jitter


@pytest.fixture(scope="session")
def water_frames() -> list[Atoms]:
    return jitter(molecule("H2O"), 6)


@pytest.fixture(scope="session")
def water_dataset(tmp_path_factory, water_frames):
    """Six labelled water frames (def2-universal-jfit density basis), as (index path, Dataset)."""
    import ase.io

    from densnet.dataset import load_h5
    from densnet.label import Labeller, settings_from_args

    d = tmp_path_factory.mktemp("water")
    ase.io.write(d / "frames.extxyz", water_frames)
    settings = settings_from_args("pbe", "def2-svp", "def2-universal-jfit", "def2-universal-jfit", 3, 1e-10, 0,
                                  100, 2, "0.5,0.25,0.25", 0, "float64")
    Labeller(d / "frames.extxyz", d / "data.h5", settings).run(progress=False)
    return d / "data.h5", load_h5(d / "data.h5")

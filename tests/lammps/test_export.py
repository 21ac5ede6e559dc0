"""densnet-export / densnet info: metadata of a real exported model, refusal of a disagreeing export,
one-line errors for corrupt and foreign files. No LAMMPS needed."""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest
import torch

from densnet.cli import export_main, main
from densnet.deploy import export as export_mod
from densnet.deploy.export import compare_outputs, export_checkpoint, probe_structure
from densnet.deploy.metadata import FORMAT, ModelMetadata, read_metadata, save_model
from densnet.deploy.toy import ToyModel
from densnet.errors import DensnetError
from densnet.model.contract import ContractModel


def test_exported_metadata_describes_the_model(densnet_model):
    md = read_metadata(densnet_model.path)
    model = densnet_model.eager
    cfg = model.config
    assert md.format == FORMAT and md.format_version == 1 and md.units == "metal"
    assert md.elements == tuple(model.elements) and md.cutoff == pytest.approx(model.cutoff)
    assert md.receptive_field == cfg["density_layers"] + 1 + cfg["energy_layers"]
    assert md.dtype == "float64" and md.device == "cpu"
    assert md.basis.startswith("unknown") and md.level_of_theory.startswith("unknown")  # no dataset recorded


def test_scripted_file_reproduces_eager_model(densnet_model):
    from densnet.deploy.reference import evaluate

    atoms = probe_structure(list(densnet_model.metadata.elements), seed=3)
    eager = evaluate(ContractModel(densnet_model.eager), atoms, densnet_model.metadata)
    scripted = evaluate(densnet_model.module, atoms, densnet_model.metadata)
    assert compare_outputs(scripted, eager, 1e-10) == []
    assert np.abs(eager["forces"]).max() > 1e-3


def test_export_refuses_a_file_that_disagrees(densnet_model, tmp_path, monkeypatch):
    """If the re-loaded model differs from the eager one, nothing is written and the error says why."""
    wrong = copy.deepcopy(ContractModel(densnet_model.eager))
    with torch.no_grad():
        for p in wrong.parameters():
            p.mul_(1.01)

    def save_copy(module, path, md):  # skip the (slow) scripting: the file content does not matter here
        shutil.copyfile(densnet_model.path, path)
        return path

    monkeypatch.setattr(export_mod, "save_model", save_copy)
    monkeypatch.setattr(export_mod, "load_model", lambda path, map_location="cpu": (wrong, densnet_model.metadata))
    out = tmp_path / "bad.pt"
    with pytest.raises(DensnetError, match="disagrees with the eager model"):
        export_checkpoint(densnet_model.checkpoint, out)
    assert not out.exists() and not list(tmp_path.glob("bad.pt.tmp*"))


def test_info_prints_metadata_of_exported_model_and_checkpoint(densnet_model, toy_model, capsys):
    def out() -> str:  # printed rows, with the column padding collapsed
        return " ".join(capsys.readouterr().out.split())

    assert main(["info", str(densnet_model.path)]) == 0
    text = out()
    assert "densnet exported model" in text and "H, C, O" in text and "receptive_field: 4" in text
    assert "LAMMPS modes: shift, ghost, halo" in text and "checkpoint_sha256: " in text
    assert main(["info", str(toy_model.path)]) == 0  # a file without the halo-mode methods
    assert "LAMMPS modes: shift, ghost (no halo-mode methods" in out()
    assert main(["info", str(densnet_model.checkpoint)]) == 0
    text = out()
    assert "checkpoint" in text and "H, C, O" in text and "parameters:" in text


@pytest.mark.parametrize("kind", ["random bytes", "foreign TorchScript", "missing"])
def test_corrupt_or_foreign_files_give_one_line_errors(tmp_path, capsys, kind):
    path = tmp_path / "model.pt"
    if kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    elif kind == "foreign TorchScript":
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("densnet info: error:") and str(path) in err and "\n" not in err
    ckpt = tmp_path / "model.ckpt"
    if path.exists():
        ckpt.write_bytes(path.read_bytes())
    assert export_main([str(ckpt), "-o", str(tmp_path / "out.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("densnet-export: error:") and "\n" not in err
    assert not (tmp_path / "out.pt").exists()


def test_torchscript_deprecation_is_not_silenced(tmp_path):
    """User code paths must show torch's TorchScript deprecation warning (tests filter it in pyproject)."""
    model = ToyModel(["H", "O"], n_layers=1)
    with pytest.warns((DeprecationWarning, FutureWarning), match="torch.jit"):
        save_model(model, tmp_path / "toy.pt", model.metadata())
    assert isinstance(read_metadata(tmp_path / "toy.pt"), ModelMetadata)


def test_re_exports_of_one_checkpoint_are_one_model(densnet_model, toy_model, tmp_path):
    """densnet lammps md continues restart files only with the same model (``model_identity``): a second export of
    the same checkpoint is that model even though TorchScript writes other bytes; another checkpoint, another dtype
    or a file not exported from a checkpoint (toy model: its bytes) is not."""
    import hashlib

    from helpers import random_model

    from densnet import io_model
    from densnet.deploy.metadata import model_identity

    again = tmp_path / "again.pt"
    export_checkpoint(densnet_model.checkpoint, again, dtype="float64")
    md = read_metadata(again)
    assert md.checkpoint_sha256 == hashlib.sha256(densnet_model.checkpoint.read_bytes()).hexdigest()
    assert model_identity(again) == model_identity(densnet_model.path)
    other, _, _ = random_model(("H", "C", "O"), seed=1)
    io_model.save(tmp_path / "other.ckpt", other)
    export_checkpoint(tmp_path / "other.ckpt", tmp_path / "other.pt", dtype="float64")
    export_checkpoint(densnet_model.checkpoint, tmp_path / "f32.pt", dtype="float32")
    ids = {model_identity(p) for p in (densnet_model.path, tmp_path / "other.pt", tmp_path / "f32.pt")}
    assert len(ids) == 3
    assert model_identity(toy_model.path) == "file:" + hashlib.sha256(toy_model.path.read_bytes()).hexdigest()

"""Python side of the exported-model contract: metadata file handling and the toy reference model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from lammps_helpers import ELEMENTS, ethanol_gas, water_box

from densnet.deploy.metadata import (
    FORMAT,
    METADATA_FILE,
    MetadataError,
    ModelMetadata,
    load_model,
    read_metadata,
    save_model,
)
from densnet.deploy.reference import build_graph, evaluate
from densnet.deploy.toy import ToyModel


def test_metadata_round_trip(tmp_path, toy_model):
    md = read_metadata(toy_model.path)
    assert md == toy_model.metadata
    assert md.format == FORMAT and md.elements == tuple(ELEMENTS) and md.receptive_field == 3
    module, md2 = load_model(toy_model.path)
    assert md2 == md and hasattr(module, "forward")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other-format"}, "metadata format is 'other-format'"),
        ({"format_version": 2}, "format_version is 2"),
        ({"units": "real"}, "units are 'real'"),
        ({"dtype": "float16"}, "dtype 'float16'"),
    ],
)
def test_bad_metadata_is_refused(tmp_path, toy_model, change, message):
    data = json.loads(toy_model.metadata.to_json()) | change
    path = tmp_path / "bad.pt"
    torch.jit.save(torch.jit.script(ToyModel(ELEMENTS)), str(path), _extra_files={METADATA_FILE: json.dumps(data)})
    with pytest.raises(MetadataError, match=message):
        read_metadata(path)


def test_foreign_and_corrupt_files_are_refused(tmp_path):
    foreign = tmp_path / "linear.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(foreign))
    with pytest.raises(MetadataError, match="no metadata.json inside"):
        read_metadata(foreign)
    corrupt = tmp_path / "random.pt"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(MetadataError, match="not a TorchScript file"):
        read_metadata(corrupt)
    with pytest.raises(MetadataError, match="elements"):
        ModelMetadata(elements=(), cutoff=4.0, receptive_field=1)


def test_save_model_scripts_plain_modules(tmp_path):
    model = ToyModel(["H", "O"], cutoff=3.0, n_layers=1)
    path = save_model(model, tmp_path / "m.pt", model.metadata())
    module, md = load_model(path)
    assert md.receptive_field == 2 and md.cutoff == 3.0
    assert isinstance(module, torch.jit.ScriptModule)


def test_toy_forces_are_energy_gradients(toy_model):
    atoms = ethanol_gas()
    ref = evaluate(toy_model.module, atoms, toy_model.metadata)
    h = 1e-5
    for atom, axis in [(0, 0), (2, 1), (8, 2)]:
        energies = []
        for sign in (1, -1):
            displaced = atoms.copy()
            displaced.positions[atom, axis] += sign * h
            energies.append(evaluate(toy_model.module, displaced, toy_model.metadata)["energy"][0])
        fd = -(energies[0] - energies[1]) / (2 * h)
        assert fd == pytest.approx(ref["forces"][atom, axis], abs=1e-8)
    assert ref["energy"][0] == pytest.approx(ref["atom_energy"].sum(), rel=1e-14)
    assert abs(ref["forces"].sum(axis=0)).max() < 1e-12  # translation invariance: no net force


def test_toy_virial_is_strain_derivative(toy_model):
    """W = -dE/d(strain) for a homogeneous deformation of a periodic box (contract definition)."""
    atoms = water_box(n_per_side=2)
    ref = evaluate(toy_model.module, atoms, toy_model.metadata)
    h = 1e-6
    for a, b in [(0, 0), (1, 2), (2, 1)]:
        energies = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[a, b] += sign * h
            deformed = atoms.copy()
            deformed.set_cell(atoms.cell.array @ strain, scale_atoms=True)
            energies.append(evaluate(toy_model.module, deformed, toy_model.metadata)["energy"][0])
        assert -(energies[0] - energies[1]) / (2 * h) == pytest.approx(ref["virial"][a, b], abs=1e-7)


def test_toy_charge_conservation_and_rotation(toy_model):
    atoms = ethanol_gas()
    ref = evaluate(toy_model.module, atoms, toy_model.metadata)
    assert abs(ref["charges"].sum()) < 1e-14
    assert np.abs(ref["charges"]).max() > 1e-3  # the test would be empty with zero charges
    rot = atoms.copy()
    rot.rotate(37.0, (1.0, 2.0, 0.5), center="COM")
    R = np.linalg.lstsq(
        atoms.positions - atoms.get_center_of_mass(), rot.positions - rot.get_center_of_mass(), rcond=None
    )[0]
    out = evaluate(toy_model.module, rot, toy_model.metadata)
    assert out["energy"][0] == pytest.approx(ref["energy"][0], rel=1e-12)
    np.testing.assert_allclose(out["charges"], ref["charges"], atol=1e-12)
    np.testing.assert_allclose(out["forces"], ref["forces"] @ R, atol=1e-12)
    np.testing.assert_allclose(out["atomic_dipoles"], ref["atomic_dipoles"] @ R, atol=1e-12)


def test_graph_has_both_directions():
    atoms = water_box(n_per_side=2)
    edge_index, edge_shift, shifts = build_graph(atoms, 4.0)
    forward = {(i, j, *s) for i, j, s in zip(*edge_index, shifts.tolist(), strict=True)}
    assert all((j, i, *(-np.array(s))) in forward for i, j, *s in forward)
    vec = atoms.positions[edge_index[1]] - atoms.positions[edge_index[0]] + edge_shift
    assert np.linalg.norm(vec, axis=1).max() < 4.0

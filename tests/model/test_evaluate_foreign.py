"""`densnet evaluate` on an extxyz labelled by another tool (energies/forces/dipoles only)."""

from __future__ import annotations

import json

import ase.io
import numpy as np
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from helpers import random_model

from densnet import io_model
from densnet.calculator import DenSNetCalculator
from densnet.cli import main


def test_evaluate_foreign_extxyz_prints_table_with_right_errors(tmp_path, capsys):
    model, _, _ = random_model(("H", "O"))
    io_model.save(tmp_path / "m.ckpt", model)
    rng = np.random.default_rng(0)
    images, pred = [], []
    calc = DenSNetCalculator(io_model.load(tmp_path / "m.ckpt"))
    for _ in range(3):
        a = molecule("H2O")
        a.positions += rng.normal(0, 0.05, a.positions.shape)
        b = a.copy()
        b.calc = calc
        pred.append((b.get_potential_energy(), b.get_forces(), b.get_dipole_moment()))
        # "another code's" labels: the model's values plus known offsets
        a.calc = SinglePointCalculator(a, energy=pred[-1][0] + 0.3, forces=pred[-1][1] - 0.2,
                                       dipole=pred[-1][2] + np.array([0.0, 0.1, 0.0]))
        images.append(a)
    ase.io.write(tmp_path / "other.extxyz", images)
    assert main(["evaluate", str(tmp_path / "m.ckpt"), str(tmp_path / "other.extxyz"),
                 "--json", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "forces (eV/A)" in out and "energy (eV/molecule)" in out
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["n_frames"] == 3 and "density_percent" not in m
    assert abs(m["energy_ev"]["mae"] - 0.3) < 1e-6
    assert abs(m["energy_per_atom_ev"]["mae"] - 0.1) < 1e-6
    assert abs(m["forces_ev_per_a"]["mae"] - 0.2) < 1e-6
    assert abs(m["dipole_e_a"]["mae"] - 0.1 / 3) < 1e-6


def test_exported_file_is_refused_by_load_with_a_clear_message(tmp_path):
    """densnet.load reads checkpoints; an exported TorchScript file gets a one-line explanation."""
    import pytest
    import torch

    from densnet.errors import DensnetError

    scripted = torch.jit.script(torch.nn.Linear(2, 2))
    torch.jit.save(scripted, str(tmp_path / "model.pt"))
    with pytest.raises(DensnetError, match="exported TorchScript model"):
        io_model.load(tmp_path / "model.pt")
    assert io_model.is_torchscript(tmp_path / "model.pt")

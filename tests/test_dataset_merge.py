"""Several labelled datasets as one (e.g. one dataset per oligomer): merge, train/evaluate on the union."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
from ase.build import molecule

from densnet.cli import main
from densnet.dataset import load, load_h5
from densnet.errors import DensnetError
from labelling_helpers import jitter


@pytest.fixture(scope="module")
def methane_dataset(tmp_path_factory):
    """Three labelled CH4 frames at the same level of theory as the water fixture."""
    from densnet.label import Labeller, settings_from_args

    d = tmp_path_factory.mktemp("methane")
    ase.io.write(d / "frames.extxyz", jitter(molecule("CH4"), 3))
    settings = settings_from_args("pbe", "def2-svp", "def2-universal-jfit", "def2-universal-jfit", 3, 1e-10, 0,
                                  100, 2, "0.5,0.25,0.25", 0, "float64")
    Labeller(d / "frames.extxyz", d / "data.h5", settings).run(progress=False)
    return d / "data.h5"


def test_merge_keeps_frames_splits_and_unites_elements(water_dataset, methane_dataset):
    water_path, water = water_dataset
    methane = load_h5(methane_dataset)
    both = load([water_path, methane_dataset])
    assert len(both.frames) == len(water.frames) + len(methane.frames)
    assert both.elements == ["H", "C", "O"]
    assert [f.split for f in both.frames] == [f.split for f in water.frames + methane.frames]
    for f, g in zip(both.frames, water.frames + methane.frames, strict=True):
        assert f.energy == g.energy and np.array_equal(f.coeffs, g.coeffs)
    assert set(both.density_basis) == {"H", "C", "O"} and set(both.sad_coeffs) == {"H", "C", "O"}
    # the free-atom SCF of H is run once per dataset: equal up to SCF convergence (merge accepts SAD_TOLERANCE)
    np.testing.assert_allclose(both.sad_coeffs["H"], water.sad_coeffs["H"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(both.sad_coeffs["H"], methane.sad_coeffs["H"], rtol=0, atol=1e-10)
    assert both.atom_energies["C"] == methane.atom_energies["C"]
    assert both.level_of_theory == water.level_of_theory


def test_merge_refuses_a_different_level_of_theory(tmp_path, water_dataset, methane_dataset):
    water_path, _ = water_dataset
    assert main(["refit", str(methane_dataset), "-o", str(tmp_path / "etb.h5"), "--density-basis", "even-tempered",
                 "-q"]) == 0
    with pytest.raises(DensnetError, match="level of theory"):
        load([water_path, tmp_path / "etb.h5"])
    with pytest.raises(DensnetError, match="no such file"):
        load([water_path, tmp_path / "missing.h5"])


def test_merge_tolerates_scf_round_off_of_the_free_atoms_only(water_dataset, methane_dataset):
    """Separate labelling runs repeat the free-atom SCF, which agrees to its convergence only; a real
    difference (another free-atom calculation) is refused with the size of the difference."""
    import copy

    from densnet.dataset import ATOM_ENERGY_TOLERANCE_EV, SAD_TOLERANCE, merge

    water = copy.deepcopy(water_dataset[1])  # the fixture is shared: never modify it
    methane = load_h5(methane_dataset)
    methane.sad_coeffs["H"] = methane.sad_coeffs["H"] + 0.1 * SAD_TOLERANCE
    methane.atom_energies["H"] += 0.1 * ATOM_ENERGY_TOLERANCE_EV
    assert len(merge([water, methane]).frames) == len(water.frames) + len(methane.frames)
    methane.sad_coeffs["H"] = methane.sad_coeffs["H"] + 10 * SAD_TOLERANCE
    with pytest.raises(DensnetError, match="SAD coefficients of H differ .* by up to"):
        merge([water, methane])
    methane = load_h5(methane_dataset)
    methane.atom_energies["H"] += 10 * ATOM_ENERGY_TOLERANCE_EV
    with pytest.raises(DensnetError, match="free-atom energy of H differs"):
        merge([water, methane])


def test_train_and_evaluate_on_several_datasets(tmp_path, water_dataset, methane_dataset, capsys):
    import json

    import yaml

    water_path, _ = water_dataset
    cfg = {"data": [str(water_path), str(methane_dataset)], "output": str(tmp_path / "run"), "batch_size": 2,
           "threads": 1, "density_loss": "coulomb",
           "model": {"cutoff": 3.0, "n_radial": 6, "radial_hidden": 8, "density_layers": 1, "density_scalars": 4,
                     "density_vectors": 2, "density_lmax": 1, "density_out_mul": 2, "energy_layers": 1,
                     "energy_scalars": 4, "energy_vectors": 2, "energy_lmax": 1, "readout_hidden": 4},
           "stages": {"density": {"epochs": 1}, "energy": {"epochs": 1}, "joint": {"epochs": 0}}}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "train.yaml"), "-q"]) == 0
    out = tmp_path / "m.json"
    assert main(["evaluate", str(tmp_path / "run" / "model.ckpt"), str(water_path), str(methane_dataset),
                 "--split", "all", "--json", str(out), "-q"]) == 0
    m = json.loads(out.read_text())
    assert m["data"] == [str(water_path), str(methane_dataset)] and m["n_frames"] == 9

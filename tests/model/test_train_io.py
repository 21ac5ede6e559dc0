"""Training (exact resume), model files and the ASE calculator on a tiny labelled H2O set."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from ase.build import molecule
from helpers import TINY, random_model

from densnet import io_model
from densnet.calculator import DenSNetCalculator
from densnet.errors import DensnetError


@pytest.fixture(scope="module")
def h2o_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("h2o")
    import ase.io

    ase.io.write(d / "h2o.xyz", molecule("H2O"))
    exe = [sys.executable, "-m", "densnet.cli"]
    subprocess.run(exe + ["sample", str(d / "h2o.xyz"), "-o", str(d / "f.extxyz"), "--temperature", "300",
                          "--frames", "6", "--method", "normal-modes", "-q"], check=True)
    subprocess.run(exe + ["label", str(d / "f.extxyz"), "-o", str(d / "d.h5"), "--split", "0.5,0.34,0.16", "-q"],
                   check=True)
    return d / "d.h5"


def _cfg(data, out):
    return {"data": str(data), "output": str(out), "batch_size": 2, "threads": 1, "model": TINY,
            "stages": {"density": {"epochs": 2}, "energy": {"epochs": 2}}}


def test_resume_is_exact(h2o_data, tmp_path):
    from densnet.train import Trainer, load_config

    full = Trainer(load_config(_cfg(h2o_data, tmp_path / "a")))
    full.run(progress=False)
    part = Trainer(load_config(_cfg(h2o_data, tmp_path / "b")))
    part.run(progress=False, stop_after=3)  # killed in the energy stage
    again = Trainer(load_config(_cfg(h2o_data, tmp_path / "b")))
    again.restore(tmp_path / "b" / "last.ckpt")
    again.run(progress=False)
    la = (tmp_path / "a" / "log.csv").read_text().splitlines()
    lb = (tmp_path / "b" / "log.csv").read_text().splitlines()
    raw = (tmp_path / "b" / "log.csv").read_bytes()
    assert b"\r" not in raw and raw.count(b"\n") == 5  # one line ending throughout, before and after the resume
    assert len(la) == len(lb) == 5
    strip = (lambda rows: [r.rsplit(",", 1)[0] for r in rows])  # noqa: E731  (drop wall time)
    assert strip(la) == strip(lb)
    ma, mb = io_model.load(tmp_path / "a" / "model.ckpt"), io_model.load(tmp_path / "b" / "model.ckpt")
    for (k, v), (_, w) in zip(ma.state_dict().items(), mb.state_dict().items(), strict=True):
        assert torch.equal(v, w), k
    # the val split decided model selection; test frames were never read into the trainer
    assert len(full.train_set) + len(full.val_set) < 6
    # checkpoints carry the provenance the exporter writes into LAMMPS metadata
    ckpt = io_model.read(tmp_path / "a" / "model.ckpt")
    assert ckpt["density_basis_name"] == "def2-universal-jfit" and ckpt["level_of_theory"].startswith("RKS PBE")


def test_model_file_roundtrip_and_errors(tmp_path):
    model, _, _ = random_model(("H", "O"))
    io_model.save(tmp_path / "m.ckpt", model)
    loaded = io_model.load(tmp_path / "m.ckpt")
    a = molecule("H2O")
    np.testing.assert_allclose(loaded.flat_coefficients(a), model.flat_coefficients(a), atol=1e-14)
    (tmp_path / "bad.ckpt").write_bytes(b"not a model")
    with pytest.raises(DensnetError, match="not a readable"):
        io_model.load(tmp_path / "bad.ckpt")
    d = torch.load(tmp_path / "m.ckpt", weights_only=True)
    d["format_version"] = 99
    torch.save(d, tmp_path / "v99.ckpt")
    with pytest.raises(DensnetError, match="version 99"):
        io_model.load(tmp_path / "v99.ckpt")
    d["format_version"] = 1  # the pre-2026-11 network layout: a clear message, not a state-dict error
    torch.save(d, tmp_path / "v1.ckpt")
    with pytest.raises(DensnetError, match="format version 1 .* old network layout"):
        io_model.load(tmp_path / "v1.ckpt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.ckpt")
    with pytest.raises(DensnetError, match="not a densnet model"):
        io_model.load(tmp_path / "foreign.ckpt")


def _fd_check(atoms, h=1e-5):
    f = atoms.get_forces()
    fd = np.zeros_like(f)
    for i in range(len(atoms)):
        for x in range(3):
            e = []
            for s in (h, -h):
                b = atoms.copy()
                b.calc = atoms.calc
                b.positions[i, x] += s
                e.append(b.get_potential_energy())
            fd[i, x] = -(e[0] - e[1]) / (2 * h)
    np.testing.assert_allclose(f, fd, atol=1e-7 * max(1, np.abs(f).max()))


def test_calculator_gas_and_periodic(tmp_path):
    model, _, _ = random_model(("H", "O"))
    calc = DenSNetCalculator(model)
    a = molecule("H2O")
    a.calc = calc
    _fd_check(a)
    assert abs(a.get_charges().sum()) < 1e-12
    # periodic box: images interact (cutoff 3 A > distances across the 3.2 A cell boundary)
    p = molecule("H2O")
    p.cell = np.diag([3.2, 3.4, 3.6])
    p.pbc = True
    p.calc = calc
    _fd_check(p)
    s = p.get_stress(voigt=False)
    h = 1e-5
    num = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            e = []
            for sg in (h, -h):
                b = p.copy()
                eps = np.eye(3)
                eps[i, j] += sg
                b.set_cell(p.cell.array @ eps, scale_atoms=True)
                b.calc = calc
                e.append(b.get_potential_energy())
            num[i, j] = (e[0] - e[1]) / (2 * h) / p.get_volume()
    np.testing.assert_allclose(s, 0.5 * (num + num.T), atol=1e-7)
    assert np.abs(s).max() > 1e-6
    # collapsed atoms (an MD blow-up): a clear error naming them, not a meaningless number
    c = molecule("H2O")
    c.positions[2] = c.positions[0] + [0.0, 0.0, 0.2]
    c.calc = calc
    with pytest.raises(DensnetError, match=r"atoms \d and \d are 0\.200 A apart"):
        c.get_potential_energy()


def test_l1_grid_loss_trains(h2o_data, tmp_path):
    """The grid L1 loss (exact KS density) is available, logged, and its value matches densnet evaluate's metric."""
    from densnet.dataset import load
    from densnet.evaluate import evaluate
    from densnet.train import Trainer, load_config

    cfg = _cfg(h2o_data, tmp_path)
    cfg.update(density_loss="l1", grid_points=20000)
    cfg["stages"] = {"density": {"epochs": 2}, "energy": {"epochs": 0}}
    tr = Trainer(load_config(cfg))
    tr.run(progress=False)
    rows = (tmp_path / "log.csv").read_text().splitlines()
    header = rows[0].split(",")
    l1_logged = min(float(r.split(",")[header.index("val_rho_l1_percent")]) for r in rows[1:])  # best = saved
    model = io_model.load(tmp_path / "model.ckpt")
    ds = load(h2o_data)
    m = evaluate(model, ds, ds.split("val"), progress=False)
    # all grid points are used (H2O level-3 grid < 20000 points): the same number up to float32 training
    assert abs(m["density_percent"]["eps_rho_model"] - l1_logged) < 0.05 * l1_logged
    assert m["density_percent"]["eps_rho_fit_floor"] < m["density_percent"]["eps_rho_sad"]


def test_config_errors_name_the_key(tmp_path):
    """A misspelt or out-of-range setting (top level, stage or architecture) is refused by name, never ignored."""
    from densnet.train import load_config

    for cfg, match in (({"data": "x.h5", "model": {"cutof": 5.0}}, "'cutof' was unexpected"),
                       ({"data": "x.h5", "model": {"cutoff": -1.0}}, "at model/cutoff"),
                       ({"data": "x.h5", "model": {"density_layers": 2.5}}, "at model/density_layers"),
                       ({"data": "x.h5", "batchsize": 4}, "'batchsize' was unexpected"),
                       ({"data": "x.h5", "stages": {"density": {"epoch": 3}}}, "'epoch' was unexpected"),
                       ({"data": "x.h5", "model": {"energy_residual": 1}}, "at model/energy_residual"),
                       ({"data": "x.h5", "train_fraction": 0}, "at train_fraction"),
                       ({"data": "x.h5", "train_fraction": 1.5}, "at train_fraction")):
        with pytest.raises(DensnetError, match=match):
            load_config(cfg)
    assert load_config({"data": "x.h5", "model": {"cutoff": 5.0}})["model"] == {"cutoff": 5.0}
    assert load_config({"data": "x.h5", "model": {"energy_residual": True}})["model"] == {"energy_residual": True}


def test_train_fraction_keeps_every_files_share():
    """A learning-curve subset takes evenly spaced frames, so each data file (concatenated in order) keeps its
    share; max_train_frames then cuts the subset."""
    from densnet.train import select_train_frames

    frames = [("a", k) for k in range(60)] + [("b", k) for k in range(20)]  # two files, 60 + 20 train frames
    for fraction in (0.5, 0.25, 0.1):
        sub = select_train_frames(frames, fraction)
        assert len(sub) == round(fraction * 80) and len(set(sub)) == len(sub)
        assert sum(f[0] == "b" for f in sub) == round(fraction * 20)  # file b keeps its quarter
    assert select_train_frames(frames, 0.5)[:3] == [("a", 0), ("a", 2), ("a", 4)]
    assert select_train_frames(frames) == frames and select_train_frames(frames, 1.0) == frames
    assert select_train_frames(frames, 0.5, 7) == select_train_frames(frames, 0.5)[:7]


def test_grid_values_on_demand_equal_stored(h2o_data, monkeypatch, tmp_path):
    """Above the memory budget the density-basis values are evaluated per batch: same L1 loss as stored ones."""
    import densnet.train as T
    from densnet.dataset import load
    from densnet.train import Trainer, load_config, make_samples

    ds = load(h2o_data)
    tr = Trainer(load_config({"data": str(h2o_data), "output": str(tmp_path), "grid_points": 500}))
    assert tr.store_phi
    frames = ds.split("val")
    kw = dict(orbital_basis=ds.orbital_basis, grid_points=500)
    a = make_samples(frames, tr.elements, tr.tables, tr.model.cutoff, tr.dtype, ds.density_basis, **kw)
    b = make_samples(frames, tr.elements, tr.tables, tr.model.cutoff, tr.dtype, ds.density_basis, store_phi=False,
                     **kw)
    assert all(s.grid.phi is not None for s in a) and all(s.grid.phi is None for s in b)
    batch = T.collate(b)
    pred = torch.cat([s.coeffs for s in a]) * 1.01  # a wrong density: non-zero loss
    assert T.l1_loss(pred, batch, tr.nf).item() == T.l1_loss(pred, T.collate(a), tr.nf).item() > 0
    monkeypatch.setattr(T, "PHI_MEMORY_BUDGET", 1.0)
    assert not Trainer(load_config({"data": str(h2o_data), "output": str(tmp_path), "grid_points": 500})).store_phi


def test_grid_points_are_cached_in_the_run_directory(h2o_data, monkeypatch, tmp_path):
    """A second start in the same run directory takes the sampled grid points and KS densities from
    grid_cache.npz instead of rebuilding PySCF grids; the samples are identical."""
    from pyscf.dft import gen_grid

    from densnet.train import Trainer, load_config

    cfg = {"data": str(h2o_data), "output": str(tmp_path), "grid_points": 500}
    first = Trainer(load_config(cfg))
    assert (tmp_path / "grid_cache.npz").exists()

    def no_grids(self, *args, **kwargs):
        raise AssertionError("grids rebuilt although cached")

    monkeypatch.setattr(gen_grid.Grids, "build", no_grids)
    again = Trainer(load_config(cfg))
    for a, b in zip(first.train_set + first.val_set, again.train_set + again.val_set, strict=True):
        assert torch.equal(a.grid.w, b.grid.w) and torch.equal(a.grid.rho, b.grid.rho)
        assert np.array_equal(a.grid.coords, b.grid.coords) and torch.equal(a.grid.values(), b.grid.values())
    monkeypatch.undo()
    (tmp_path / "grid_cache.npz").write_bytes(b"garbage")  # an unreadable cache is recomputed, not trusted
    assert len(Trainer(load_config(cfg)).train_set) == len(first.train_set)


def test_init_copies_matching_tensors_and_rejects_foreign_models(h2o_data, tmp_path):
    """An energy-only run started from a trained model keeps its density network exactly (energy stage:
    density parameters frozen) while a wider energy network starts fresh; other elements are refused."""
    from densnet.train import Trainer, load_config, network_of

    first = Trainer(load_config({**_cfg(h2o_data, tmp_path / "a"), "stages": {"density": {"epochs": 2},
                                                                            "energy": {"epochs": 0}}}))
    first.run(progress=False)
    wide = {**TINY, "energy_scalars": 12, "readout_hidden": 12}
    cfg = {**_cfg(h2o_data, tmp_path / "b"), "model": wide, "init": str(tmp_path / "a" / "model.ckpt"),
           "stages": {"density": {"epochs": 0}, "energy": {"epochs": 2}}}
    second = Trainer(load_config(cfg))
    assert "freshly initialised in" in second.init_report and "readout" in second.init_report
    # no density stage: no Coulomb matrices or grid points are built (memory), unlike a run with one
    assert all(s.j is None and s.grid is None for s in second.train_set + second.val_set)
    assert all(s.j is not None for s in first.train_set) and all(s.grid is not None for s in first.val_set)
    second.run(progress=False)
    a, b = io_model.load(tmp_path / "a" / "model.ckpt"), io_model.load(tmp_path / "b" / "model.ckpt")
    for name in ("edges", "density_embedding", "density_layers", "density_head"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa), name
    ra, rb = a.readout.state_dict(), b.readout.state_dict()
    assert any(ra[k].shape != rb[k].shape for k in ra)  # the wider readout was not copied
    # init_networks [density]: same architecture, the energy network keeps its fresh initialisation
    only = Trainer(load_config({**_cfg(h2o_data, tmp_path / "d"), "init": str(tmp_path / "a" / "model.ckpt"),
                                "init_networks": ["density"], "seed": 1}))  # (a's energy network: seed 0's init)
    sa, sd = a.state_dict(), only.model.state_dict()
    assert all(torch.equal(sa[k], sd[k].to(sa[k].dtype)) for k in sa if network_of(k) == "density")
    assert not all(torch.equal(sa[k], sd[k].to(sa[k].dtype)) for k in sa if k.startswith("energy_layers"))
    assert "energy_layers" in only.init_report and "density_layers" not in only.init_report
    model = random_model(("H", "C"))[0]
    io_model.save(tmp_path / "hc.ckpt", model)
    with pytest.raises(DensnetError, match="elements"):
        Trainer(load_config({**cfg, "output": str(tmp_path / "c"), "init": str(tmp_path / "hc.ckpt")}))


def test_data_weights_scale_the_energy_and_force_loss(h2o_data, tmp_path):
    """data_weights: weight 0 removes a dataset's energy/force terms (the energy network does not move), weight
    2 doubles them; a list of the wrong length is refused."""
    from densnet.train import Trainer, batch_loss, collate, load_config

    def trainer(out, weights):
        cfg = {**_cfg(h2o_data, tmp_path / out), "stages": {"density": {"epochs": 0}, "energy": {"epochs": 1}},
               "data_weights": weights}
        return Trainer(load_config(cfg))

    t0, t1, t2 = trainer("w0", [0.0]), trainer("w1", [1.0]), trainer("w2", [2.0])
    batch = collate(t1.train_set[:2])
    w = t1.weights("energy")
    l1, m1 = batch_loss(t1.model, batch, w, t1.nf, "energy", train=False)
    l2, _ = batch_loss(t2.model, collate(t2.train_set[:2]), w, t2.nf, "energy", train=False)
    l0, m0 = batch_loss(t0.model, collate(t0.train_set[:2]), w, t0.nf, "energy", train=False)
    assert l1.item() > 0 and abs(l2.item() - 2 * l1.item()) < 1e-6 * l1.item() and l0.item() == 0.0
    assert m0["f_mae"] == m1["f_mae"] > 0  # the reported errors are unweighted
    def moved(t):  # largest change of an energy-layer tensor over one epoch
        before = {k: v.clone() for k, v in t.model.state_dict().items() if k.startswith("energy_layers")}
        t.run(progress=False)
        after = t.model.state_dict()
        return max((after[k].to(v.dtype) - v).abs().max().item() for k, v in before.items())

    assert moved(t0) < 1e-6 < 1e-5 < moved(t1)  # (float32 EMA round-off only, against a real update)
    with pytest.raises(DensnetError, match="data_weights"):
        trainer("bad", [1.0, 1.0])


def test_eps_rho_is_independent_of_the_grid_block(h2o_data):
    """density_errors sums over grid blocks (memory bound for long chains): any block size gives the same eps_rho."""
    from densnet.dataset import load
    from densnet.evaluate import density_errors

    ds = load(h2o_data)
    fr = ds.frames[0]
    rng = np.random.default_rng(0)
    c = fr.coeffs + 0.01 * rng.standard_normal(fr.coeffs.shape)
    whole = density_errors(fr, ds.density_basis, ds.orbital_basis, c, 0.9 * fr.coeffs, max_block_values=2**40)
    blocked = density_errors(fr, ds.density_basis, ds.orbital_basis, c, 0.9 * fr.coeffs, max_block_values=5000)
    assert set(whole) == {"eps_rho_model", "eps_rho_sad", "eps_rho_fit_floor"}
    for k in whole:
        assert blocked[k] == pytest.approx(whole[k], rel=1e-10)
    assert whole["eps_rho_fit_floor"] < whole["eps_rho_model"]


def test_energy_shift_refit_removes_the_mean_offset_and_keeps_forces(h2o_data, tmp_path):
    """After the last stage the per-element shifts are refitted: zero mean per-atom training residual (one
    composition), the same forces and energy differences as without the refit, recorded in model.ckpt."""
    from densnet.dataset import load
    from densnet.train import Trainer, energy_residuals, load_config

    models = {}
    for refit in (False, True):
        cfg = _cfg(h2o_data, tmp_path / str(refit))
        cfg["refit_energy_shift"] = refit
        cfg["dtype"] = "float64"  # exact shifts (float32 training rounds a ~2000 eV O shift to ~1e-4 eV)
        tr = Trainer(load_config(cfg))
        tr.run(progress=False)
        models[refit] = io_model.load(tmp_path / str(refit) / "model.ckpt")
        if refit:
            r, a = energy_residuals(tr.model, tr.train_set, 2)
            assert abs(np.mean(r / a.sum(1))) < 1e-9
            assert io_model.read(tmp_path / "True" / "model.ckpt")["energy_shift_refit"]["delta_ev_per_atom"]
        else:
            r0, _ = energy_residuals(tr.model, tr.train_set, 2)
    assert np.mean(np.abs(r0)) > 10 * np.mean(np.abs(r))  # the offset was there to remove
    ds = load(h2o_data)
    e, f = {}, {}
    for refit, model in models.items():
        calc = DenSNetCalculator(model)
        e[refit], f[refit] = [], []
        for fr in ds.frames[:3]:
            atoms = molecule("H2O")
            atoms.positions = fr.positions
            atoms.calc = calc
            e[refit].append(atoms.get_potential_energy())
            f[refit].append(atoms.get_forces())
    np.testing.assert_allclose(f[True], f[False], rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.diff(e[True]), np.diff(e[False]), rtol=0, atol=1e-8)
    assert abs(e[True][0] - e[False][0]) > 1e-6

"""Harmonic analysis: analytic diatomic, model autograd vs finite differences, PySCF DFT reference (H2O),
and (slow) a trained model's harmonic frequencies vs the peaks of its own low-temperature MD."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

sys.path.insert(0, str(Path(__file__).parent / "model"))
from helpers import TINY, random_model  # noqa: E402

from densnet.cli import main  # noqa: E402
from densnet.harmonic import (  # noqa: E402
    WAVENUMBER_PER_SQRT_EV_A2_AMU,
    fd_derivatives,
    model_derivatives,
    normal_modes,
)
from densnet.spectra import KM_PER_MOL, find_peaks, read_csv_xy  # noqa: E402


def test_unit_constants():
    # sqrt(eV / (A^2 amu)) = 9.8227e13 rad/s; / (2 pi c) = 521.47 cm^-1
    assert WAVENUMBER_PER_SQRT_EV_A2_AMU == pytest.approx(521.47, abs=0.01)
    # 1 (D/A)^2/amu = 42.2561 km/mol (the textbook factor; 1 D = 0.0208194 e*A)
    assert KM_PER_MOL * 0.20819434**2 == pytest.approx(42.2561, rel=1e-4)


def test_diatomic_with_fixed_charges():
    """Bond spring k between point charges +-q: nu = 521.47 sqrt(k/mu), I = 974.88 q^2 (1/m1 + 1/m2)."""
    k, q, m = 30.0, 0.3, np.array([1.008, 35.45])
    pos = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.27]])
    u = np.zeros(6)
    u[2], u[5] = -1.0, 1.0
    hess = k * np.outer(u, u)
    dmu = np.zeros((6, 3))
    dmu[2, 2], dmu[5, 2] = -q, q  # mu_z = q (z2 - z1)
    dmu[0, 0], dmu[3, 0], dmu[1, 1], dmu[4, 1] = -q, q, -q, q
    modes = normal_modes(hess, m, pos, dmu)
    assert len(modes.wavenumber) == 1  # linear: 3N - 5
    mu_red = m[0] * m[1] / m.sum()
    assert modes.wavenumber[0] == pytest.approx(WAVENUMBER_PER_SQRT_EV_A2_AMU * np.sqrt(k / mu_red), rel=1e-10)
    assert modes.intensity[0] == pytest.approx(KM_PER_MOL * q**2 * (1 / m[0] + 1 / m[1]), rel=1e-10)


def test_model_autograd_matches_finite_differences():
    from densnet.calculator import DenSNetCalculator

    model, _, _ = random_model(("H", "O"))
    a = molecule("H2O")
    a.positions += np.random.default_rng(0).normal(scale=0.03, size=a.positions.shape)
    h_ag, d_ag = model_derivatives(model, a)
    h_fd, d_fd = fd_derivatives(DenSNetCalculator(model), a, delta=1e-3)
    assert np.abs(h_ag - h_ag.T).max() < 1e-8 * np.abs(h_ag).max()
    np.testing.assert_allclose(h_ag, h_fd, atol=1e-5 * np.abs(h_ag).max())
    np.testing.assert_allclose(d_ag, d_fd, atol=1e-6 * max(1.0, np.abs(d_ag).max()))
    # a neutral molecule's dipole does not change under translation: sum of atomic polar tensors = 0
    assert np.abs(d_ag.reshape(3, 3, 3).sum(axis=0)).max() < 1e-10


def _check_h2o(res, a):
    masses = res["mf"].mol.atom_mass_list(isotope_avg=True)
    modes = normal_modes(res["hessian"], masses, a.positions, res["dmu_dx"])
    np.testing.assert_allclose(modes.wavenumber, np.sort(res["pyscf_wavenumbers"]), atol=0.5)
    assert 1400 < modes.wavenumber[0] < 1800 and 3500 < modes.wavenumber[1] < modes.wavenumber[2] < 4100
    assert modes.assign(a).labels == ["H-O-H bend", "O-H stretch", "O-H stretch"]  # from the DFT eigenvectors
    return modes


def test_dft_h2o_matches_pyscf_frequencies():
    """Our projection/diagonalisation of PySCF's analytic Hessian = pyscf.hessian.thermo.harmonic_analysis; the
    analytic dipole derivatives obey the translation sum rule of a neutral molecule and its symmetry zeros (H2O
    from ase lies in the yz plane: d mu_y / d x = 0); all three modes are IR-active. Central differences of the
    SCF dipole check their values (test_dft_finite_difference_hessian_...)."""
    from densnet.harmonic import dft_hessian

    a = molecule("H2O")
    res = dft_hessian(a)
    modes = _check_h2o(res, a)
    apt = res["dmu_dx"].reshape(3, 3, 3)
    assert np.abs(apt.sum(axis=0)).max() < 1e-3 * np.abs(apt).max()
    assert np.abs(apt[:, 0, 1:]).max() < 1e-6 * np.abs(apt).max()
    assert np.all(modes.intensity > 1.0)


# --------------------------------------------------------------------------------- trained model vs its own MD

@pytest.fixture(scope="module")
def trained_h2o(tmp_path_factory):
    """A TINY model trained for about a minute on 24 normal-mode-sampled, PySCF-labelled water frames."""
    import ase.io

    from densnet.train import train

    d = tmp_path_factory.mktemp("h2o_model")
    ase.io.write(d / "h2o.xyz", molecule("H2O"))
    exe = [sys.executable, "-m", "densnet.cli"]
    subprocess.run(exe + ["sample", str(d / "h2o.xyz"), "-o", str(d / "f.extxyz"), "--temperature", "300",
                          "--frames", "24", "--method", "normal-modes", "-q"], check=True)
    subprocess.run(exe + ["label", str(d / "f.extxyz"), "-o", str(d / "d.h5"), "--split", "0.75,0.25,0.0", "-q",
                          "--store-dm", "none"], check=True)
    cfg = {"data": str(d / "d.h5"), "output": str(d / "run"), "batch_size": 4, "threads": 1, "model": TINY,
           "density_loss": "coulomb",
           "stages": {"density": {"epochs": 20, "lr": 0.01}, "energy": {"epochs": 150, "lr": 0.01}}}
    return train(cfg, progress=False), d


def harmonic_vs_md(model_path: Path, d: Path, temperatures: tuple[float, ...] = (5.0, 20.0),
                   production: str = "3000fs", timestep: float = 0.5) -> dict:
    """Harmonic sticks of the model, and the IR peaks and vibrational energy of an NVE run (rotation removed,
    the same seed) at each temperature."""
    import ase.io

    ase.io.write(d / "start.xyz", molecule("H2O"))
    assert main(["harmonic", str(model_path), str(d / "start.xyz"), "-o", str(d / "sticks.csv"),
                 "--write-optimised", str(d / "opt.xyz")]) == 0
    nu_h, inten = read_csv_xy(d / "sticks.csv")
    assert np.all(nu_h > 100), f"the trained potential has no minimum there: {nu_h}"
    e_min = ase.io.read(d / "opt.xyz").get_potential_energy()
    # velocity Verlet turns a harmonic frequency w into arccos(1 - (w dt)^2 / 2) / dt
    w = 2 * np.pi * 2.99792458e-5 * nu_h * timestep  # w dt
    out = {"harmonic": nu_h, "intensity": inten, "verlet": nu_h * np.arccos(1 - w**2 / 2) / w, "runs": {}}
    for temp in temperatures:
        md = d / f"md_{temp:g}K"
        assert main(["md", str(model_path), str(d / "opt.xyz"), "--temperature", f"{temp:g}", "--equilibrate",
                     "100fs", "--production", production, "--timestep", f"{timestep}fs", "-o", str(md), "-q",
                     "--remove-rotation", "--friction", "0.02", "--seed", "0"]) == 0
        assert main(["ir", str(md / "dipole.dat"), "-o", str(md / "ir.csv"), "--peaks", str(md / "peaks.csv"),
                     "--plot", str(md / "ir.png"), "--sticks", str(d / "sticks.csv")]) == 0
        text = (md / "peaks.csv").read_text().splitlines()
        e = np.loadtxt(md / "energies.dat")
        out["runs"][temp] = {"resolution": float(text[0].split()[2]),
                             "peaks": np.loadtxt(text[2:], delimiter=",", ndmin=2)[:, 0],
                             "e_vib": float(e[e[:, 0] > 0, 3].mean() - e_min)}  # eV, conserved in NVE
    return out


@pytest.mark.slow
def test_trained_model_harmonic_matches_low_temperature_md(trained_h2o):
    """Harmonic frequencies (with the velocity-Verlet shift) = peaks of the model's own NVE MD.

    The MD - harmonic difference is the classical anharmonic shift, proportional to the vibrational energy
    at low temperature: the 5 K and 20 K runs start from the same random numbers (in the harmonic limit the
    trajectory only scales by sqrt(T)). So (i) at 5 K the peaks agree within half the resolution, and (ii)
    extrapolated linearly in the vibrational energy to zero, the difference vanishes (< 1.5 cm^-1, a tenth of
    what a wrong Verlet correction, peak-picking bias or leaking thermostat would leave). Measured with this
    fixture (docs/spectra.md): -10.1 cm^-1 at 20 K (O-H asymmetric stretch of a strongly anharmonic TINY
    potential, -2.0 cm^-1 per meV of vibrational energy), -2.2 at 5 K, extrapolated < 0.1.
    """
    model_path, d = trained_h2o
    r = harmonic_vs_md(model_path, d, (5.0, 20.0))
    low, high = r["runs"][5.0], r["runs"][20.0]
    assert low["resolution"] == pytest.approx(22.2, abs=0.1)
    # NVE energy ~ T: 3 modes x kT each on average, the same random numbers at both temperatures
    assert 3.0 < high["e_vib"] / low["e_vib"] < 5.5, (low["e_vib"], high["e_vib"])
    for nu, nu_v, inten in zip(r["harmonic"], r["verlet"], r["intensity"], strict=True):
        if inten < 0.05 * r["intensity"].max():
            continue  # too weak to stand out of a single short trajectory
        dev = {t: run["peaks"][np.argmin(np.abs(run["peaks"] - nu_v))] - nu_v for t, run in r["runs"].items()}
        msg = (nu, nu_v, dev, low["e_vib"], high["e_vib"])
        assert abs(dev[5.0]) < low["resolution"] / 2, msg
        intercept = (high["e_vib"] * dev[5.0] - low["e_vib"] * dev[20.0]) / (high["e_vib"] - low["e_vib"])
        assert abs(intercept) < 1.5, msg


@pytest.mark.slow
def test_cli_harmonic_dft_with_optimisation(tmp_path):
    import ase.io

    a = molecule("H2O")
    a.positions[1] += [0.0, 0.05, 0.03]
    ase.io.write(tmp_path / "w.xyz", a)
    assert main(["harmonic", "--dft", str(tmp_path / "w.xyz"), "-o", str(tmp_path / "dft.csv")]) == 0
    nu, inten = read_csv_xy(tmp_path / "dft.csv")
    assert len(nu) == 3 and np.all(nu > 1000) and np.all(inten > 0)
    from densnet.spectra import read_sticks_csv

    assert read_sticks_csv(tmp_path / "dft.csv")[2] == ["H-O-H bend", "O-H stretch", "O-H stretch"]


def test_cli_harmonic_arguments(tmp_path, capsys, monkeypatch):
    import densnet.harmonic

    calls = []
    monkeypatch.setattr(densnet.harmonic, "command", lambda *args: calls.append(args))
    assert main(["harmonic", "--dft", "w.xyz", "-o", "s.csv"]) == 0
    assert main(["harmonic", "m.ckpt", "w.xyz", "--method", "fd", "--no-optimise"]) == 0
    assert calls[0][:4] == ("w.xyz", None, "s.csv", None) and calls[0][4] is True  # None: the default per path
    assert calls[1][:4] == ("w.xyz", "m.ckpt", None, "fd") and calls[1][4] is False
    monkeypatch.undo()


def test_cli_harmonic_errors(tmp_path, capsys):
    assert main(["harmonic", "--dft"]) == 2
    assert main(["harmonic", "model.ckpt"]) == 2
    assert main(["harmonic", "--dft", str(tmp_path / "nope.xyz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all("error" in e for e in err)
    import ase.io

    ase.io.write(tmp_path / "w.xyz", molecule("H2O"))
    assert main(["harmonic", "--dft", str(tmp_path / "w.xyz"), "--method", "fd"]) == 2
    assert "needs --workdir" in capsys.readouterr().err
    assert main(["harmonic", "--dft", str(tmp_path / "w.xyz"), "--method", "autograd"]) == 2
    assert "'analytic' or 'fd'" in capsys.readouterr().err
    assert main(["harmonic", "model.ckpt", str(tmp_path / "w.xyz"), "--method", "analytic"]) == 2
    assert "'analytic' is for --dft" in capsys.readouterr().err


def test_dft_analytic_result_is_kept_in_the_workdir(tmp_path):
    """--workdir with the analytic Hessian: the result is stored once and reused by a re-run; another geometry
    is refused."""
    from densnet.errors import DensnetError
    from densnet.harmonic import dft_harmonic

    a = molecule("H2O")
    modes, _ = dft_harmonic(a, optimise_first=False, workdir=tmp_path)
    stamp = (tmp_path / "analytic.npz").stat().st_mtime_ns
    with np.load(tmp_path / "analytic.npz") as f:
        assert float(f["wall_s"]) > 0  # the cost is kept with the result
    again, _ = dft_harmonic(a, optimise_first=False, workdir=tmp_path)
    assert (tmp_path / "analytic.npz").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again.wavenumber, modes.wavenumber)
    b = a.copy()
    b.positions[0, 2] += 0.01
    with pytest.raises(DensnetError, match="another geometry"):
        dft_harmonic(b, optimise_first=False, workdir=tmp_path)


def test_linear_molecule_has_3n_minus_5_modes():
    a = Atoms("CO2", positions=[[0, 0, 0], [0, 0, 1.16], [0, 0, -1.16]])
    hess = np.eye(9)
    assert len(normal_modes(hess, a.get_masses(), a.positions).wavenumber) == 4
    assert len(find_peaks(np.linspace(0, 10, 5), np.zeros(5))) == 0


def test_dft_finite_difference_hessian_is_resumable_and_matches_analytic(tmp_path):
    """The resumable path (6N displaced SCFs labelled with densnet label) reproduces the analytic Hessian's
    frequencies with sensible dipole derivatives; a re-run reuses the stored labels; a workdir of another
    geometry is refused."""
    import shutil

    from densnet.dataset import chunk_dir
    from densnet.errors import DensnetError
    from densnet.harmonic import dft_fd_derivatives, dft_hessian

    a = molecule("H2O")
    ref = dft_hessian(a)
    masses = ref["mf"].mol.atom_mass_list(isotope_avg=True)
    hess, dmu = dft_fd_derivatives(a, tmp_path / "fd", progress=False)
    fd = normal_modes(hess, masses, a.positions, dmu)
    # central differences of DFT forces (grid level 3, step 0.005 A) vs the analytic Hessian, and of the SCF
    # dipoles vs the analytic (CPHF) dipole derivatives
    np.testing.assert_allclose(fd.wavenumber, np.sort(ref["pyscf_wavenumbers"]), atol=3.0)
    np.testing.assert_allclose(dmu, ref["dmu_dx"], rtol=0, atol=1e-3 * np.abs(dmu).max())
    an = normal_modes(ref["hessian"], masses, a.positions, ref["dmu_dx"])
    np.testing.assert_allclose(an.intensity, fd.intensity, rtol=0.02)
    # dipole derivatives: translation sum rule of the atomic polar tensors (neutral molecule), symmetry zeros
    # (H2O from ase lies in the yz plane: d mu_y / d x = 0), and all three modes IR-active
    apt = dmu.reshape(3, 3, 3)
    assert np.abs(apt.sum(axis=0)).max() < 1e-3 * np.abs(apt).max()
    assert np.abs(apt[:, 0, 1:]).max() < 1e-3 * np.abs(apt).max()
    assert np.all(fd.intensity > 1.0)
    # a re-run reuses the labelled displacements (resumable store of densnet label; its kill/resume is tested
    # in tests/test_label.py): no chunk is rewritten and the result is identical
    store = chunk_dir(tmp_path / "fd" / "displacements.h5")
    stamps = {c: c.stat().st_mtime_ns for c in store.glob("chunk-*.h5")}
    assert len(stamps) >= 2
    hess2, dmu2 = dft_fd_derivatives(a, tmp_path / "fd", progress=False)
    assert {c: c.stat().st_mtime_ns for c in store.glob("chunk-*.h5")} == stamps
    np.testing.assert_array_equal(hess2, hess)
    np.testing.assert_array_equal(dmu2, dmu)
    b = a.copy()
    b.positions[0, 0] += 0.01
    with pytest.raises(DensnetError, match="another geometry"):
        dft_fd_derivatives(b, tmp_path / "fd", progress=False)
    shutil.rmtree(tmp_path / "fd")

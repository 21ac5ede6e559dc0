"""densnet md: outputs, exact continuation after a kill, settings checks, and densnet ir on its output."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import molecule

sys.path.insert(0, str(Path(__file__).parent / "model"))
from helpers import random_model  # noqa: E402

from densnet import io_model  # noqa: E402
from densnet.calculator import DenSNetCalculator  # noqa: E402
from densnet.cli import main  # noqa: E402
from densnet.errors import DensnetError  # noqa: E402
from densnet.md import MDSettings, parse_time, remove_rigid_motion, run  # noqa: E402


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    model, _, _ = random_model(("H", "O"))
    path = tmp_path_factory.mktemp("md") / "m.ckpt"
    io_model.save(path, model)
    return path


def test_parse_time():
    assert parse_time("5ps") == 5000 and parse_time("0.5fs") == 0.5 and parse_time(" 2 ns") == 2e6
    assert parse_time("12") == 12.0
    with pytest.raises(DensnetError, match="cannot read time"):
        parse_time("5 minutes")


def test_remove_rigid_motion_keeps_the_vibrational_velocities():
    """--remove-rotation subtracts V + omega x r and nothing else: the kinetic energy drops by exactly
    P^2/2M + L.I^-1.L/2 (ASE's default rescaling would keep it and heat the vibrations)."""
    a = molecule("H2O")
    rng = np.random.default_rng(3)
    a.set_velocities(rng.normal(size=(3, 3)) * 0.01)
    m, v0 = a.get_masses(), a.get_velocities()
    r = a.positions - a.get_center_of_mass()
    p_tot = (m[:, None] * v0).sum(0)
    ang = (m[:, None] * np.cross(r, v0)).sum(0)
    inertia = (m[:, None, None] * ((r * r).sum(1)[:, None, None] * np.eye(3) - r[:, :, None] * r[:, None, :])).sum(0)
    omega = np.linalg.solve(inertia, ang)
    e_rigid = 0.5 * p_tot @ p_tot / m.sum() + 0.5 * ang @ omega
    removed = remove_rigid_motion(a)
    assert removed == pytest.approx(e_rigid, rel=1e-10) and removed > 0
    np.testing.assert_allclose(a.get_velocities(), v0 - p_tot / m.sum() - np.cross(omega, r), atol=1e-14)
    assert np.abs(a.get_momenta().sum(0)).max() < 1e-14 and np.abs(a.get_angular_momentum()).max() < 1e-14


@pytest.mark.parametrize("trajectory", ["traj.extxyz", "traj.traj"])
def test_killed_run_continues_exactly(model_file, tmp_path, trajectory):
    """A run stopped mid-equilibration and again mid-production, then re-run, equals an uninterrupted run
    (outputs cut back to the last checkpoint, positions, momenta and the Langevin RNG state restored)."""
    import ase.io

    calc = DenSNetCalculator(io_model.load(model_file))
    s = MDSettings(temperature=300, equilibrate=2.5, production=6.0, timestep=0.5, stride=3, energy_stride=2,
                   checkpoint_every=3, thermostat="langevin", trajectory=trajectory)
    full = run(calc, molecule("H2O"), tmp_path / "full", s, progress=False)
    assert full["done"] and full["steps"] == 17
    part = tmp_path / "part"
    assert not run(calc, molecule("H2O"), part, s, progress=False, stop_after=4)["done"]  # in equilibration
    assert not run(calc, molecule("H2O"), part, s, progress=False, stop_after=6)["done"]  # in production
    assert run(calc, molecule("H2O"), part, s, progress=False)["done"]
    for name in ("dipole.dat", "energies.dat") + ((trajectory,) if trajectory.endswith("xyz") else ()):
        assert (part / name).read_text() == (tmp_path / "full" / name).read_text(), name
    fa, fb = ase.io.read(tmp_path / "full" / trajectory, ":"), ase.io.read(part / trajectory, ":")
    assert len(fa) == len(fb) == 12 // 3
    for a, b in zip(fa, fb, strict=True):
        assert np.array_equal(a.positions, b.positions)
    mu = np.loadtxt(part / "dipole.dat")
    assert mu.shape == (12, 4) and np.allclose(np.diff(mu[:, 0]), 0.5)
    # the dipole column is the model's dipole of the written frames
    last = fa[-1]
    t = last.info["time_fs"]
    np.testing.assert_allclose(mu[np.argmin(np.abs(mu[:, 0] - t)), 1:], last.get_dipole_moment(), atol=1e-10)
    with pytest.raises(DensnetError, match="other settings"):
        run(calc, molecule("H2O"), part, MDSettings(temperature=200, equilibrate=5.0, production=10.0),
            progress=False)


def test_cli_md_then_ir(model_file, tmp_path, capsys):
    import ase.io

    ase.io.write(tmp_path / "w.xyz", molecule("H2O"))
    out = tmp_path / "run"
    rc = main(["md", str(model_file), str(tmp_path / "w.xyz"), "--temperature", "50", "--equilibrate", "2fs",
               "--production", "9fs", "--timestep", "0.5fs", "-o", str(out), "-q", "--remove-rotation",
               "--energy-stride", "2"])
    assert rc == 0
    e = np.loadtxt(out / "energies.dat")
    assert e[0, 0] < 0 < e[-1, 0]  # equilibration at negative times
    # NVE production: total energy conserved much better than kinetic energy fluctuates
    prod = e[e[:, 0] > 0]
    assert np.ptp(prod[:, 3]) < 0.2 * np.ptp(prod[:, 2]) + 1e-6
    rc = main(["ir", str(out / "dipole.dat"), "-o", str(tmp_path / "s.csv")])
    assert rc == 0 and "km/mol/cm^-1" in capsys.readouterr().out  # temperature read from the md header
    assert main(["md", str(model_file), str(tmp_path / "missing.xyz"), "--temperature", "50", "-o", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.slow
def test_sigkill_then_same_command_continues(model_file, tmp_path):
    """kill -9 of a real `densnet md` process, then the same command: same outputs as an uninterrupted run."""
    import os
    import signal
    import subprocess
    import time

    import ase.io

    ase.io.write(tmp_path / "w.xyz", molecule("H2O"))

    def cmd(out):
        return [sys.executable, "-m", "densnet.cli", "md", str(model_file), str(tmp_path / "w.xyz"), "-o", str(out),
                "--temperature", "300", "--equilibrate", "5fs", "--production", "25fs", "--checkpoint-every", "7",
                "--energy-stride", "1", "-q"]

    subprocess.run(cmd(tmp_path / "full"), check=True)
    proc = subprocess.Popen(cmd(tmp_path / "killed"))
    ckpt = tmp_path / "killed" / "checkpoint.npz"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and int(np.load(ckpt)["step"]) >= 21:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    subprocess.run(cmd(tmp_path / "killed"), check=True)
    for name in ("dipole.dat", "energies.dat", "traj.extxyz"):
        assert (tmp_path / "killed" / name).read_text() == (tmp_path / "full" / name).read_text(), name

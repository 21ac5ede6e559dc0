"""densnet lammps md: replicas in real LAMMPS whose dipole series and dumps agree with the Python model,
skipped when done, then read by densnet ir (averaged) and densnet check-md."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from lammps_helpers import assert_matches

from densnet.cli import main
from densnet.deploy.reference import evaluate, total_dipole

pytestmark = pytest.mark.lammps


def dump_frames(path) -> list[np.ndarray]:
    """Rows ``id mol type x y z ix iy iz q px py pz`` of each frame of a LAMMPS text dump."""
    lines = path.read_text().splitlines()
    frames, k = [], 0
    while k < len(lines):
        n = int(lines[k + 3])
        frames.append(np.loadtxt(lines[k + 9: k + 9 + n], ndmin=2))
        k += 9 + n
    return frames


def test_replicas_match_python_model_resume_and_feed_ir(plugin, toy_model, tmp_path, capsys):
    start = molecule("CH3CH2OH")
    ase.io.write(tmp_path / "start.xyz", start)
    out = tmp_path / "runs"
    args = ["lammps", "md", str(toy_model.path), str(tmp_path / "start.xyz"), "-o", str(out), "--replicas", "2",
            "--equilibrate", "25fs", "--production", "50fs", "--dump-every", "25", "--plugin", str(plugin), "-q"]
    assert main(args) == 0
    for r in range(2):
        d = out / f"replica-{r:02d}"
        mu = np.loadtxt(d / "dipole.dat", ndmin=2)
        assert mu.shape == (101, 4) and np.allclose(mu[:, 0], np.arange(101) * 0.5)  # NVE steps 0..100
        frames = dump_frames(d / "traj.lammpstrj")
        assert len(frames) == 5  # steps 0, 25, 50, 75, 100
        for k, rows in enumerate(frames):
            symbols = [("C", "H", "O")[int(t) - 1] for t in rows[:, 2]]
            atoms = Atoms(symbols, positions=rows[:, 3:6])
            assert sorted(symbols) == sorted(start.get_chemical_symbols()) and set(rows[:, 1]) == {1.0}
            ref = evaluate(toy_model.module, atoms, toy_model.metadata)
            # the dump holds 10 significant digits (positions ~1e-8 A): 1e-6 relative, not the 1e-8 of the
            # full-precision pair-style tests
            assert_matches(rows[:, 9], ref["charges"], "charges", rtol=1e-6)
            assert_matches(rows[:, 10:13], ref["atomic_dipoles"], "atomic dipoles", rtol=1e-6)
            assert_matches(mu[25 * k, 1:], total_dipole(atoms, ref), "dipole.dat vs model", rtol=1e-6)
    a, b = (np.loadtxt(out / f"replica-{r:02d}" / "dipole.dat") for r in range(2))
    assert np.abs(a[:, 1:] - b[:, 1:]).max() > 1e-4  # independent replicas (different seeds)

    # re-running skips finished replicas
    stamp = (out / "replica-00" / "done.json").stat().st_mtime_ns
    assert main(args) == 0
    assert "2 already done" in capsys.readouterr().out
    assert (out / "replica-00" / "done.json").stat().st_mtime_ns == stamp

    # densnet ir averages the replicas; check-md reads the dumps and logs
    dip = [str(out / f"replica-{r:02d}" / "dipole.dat") for r in range(2)]
    assert main(["ir", *dip, "-o", str(tmp_path / "ir.csv")]) == 0
    assert "2 series" in capsys.readouterr().out
    logs = [str(out / f"replica-{r:02d}" / "log.lammps") for r in range(2)]
    dumps = [str(out / f"replica-{r:02d}" / "traj.lammpstrj") for r in range(2)]
    # 50 fs of a random toy potential: bonds must hold; the drift of so short a run is only read, not judged
    assert main(["check-md", *dumps, "--energies", *logs, "--elements", "C", "H", "O", "--max-drift", "1",
                 "--json", str(tmp_path / "check.json")]) == 0
    reports = json.loads((tmp_path / "check.json").read_text())
    assert [r["n_frames"] for r in reports] == [5, 5]
    assert all(r["energy"]["n_points"] >= 5 and abs(r["energy"]["duration_ps"] - 0.05) < 1e-9 for r in reports)


def test_clear_errors(plugin, toy_model, tmp_path, capsys):
    ase.io.write(tmp_path / "s.xyz", molecule("CH3SH"))
    assert main(["lammps", "md", str(toy_model.path), str(tmp_path / "s.xyz"), "-o", str(tmp_path / "r"),
                 "--plugin", str(plugin), "-q"]) == 2
    assert "element(s) S not in the model" in capsys.readouterr().err
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    assert main(["lammps", "md", str(tmp_path / "bad.pt"), str(tmp_path / "s.xyz"), "-o", str(tmp_path / "r"),
                 "--plugin", str(plugin), "-q"]) == 2
    assert "bad.pt" in capsys.readouterr().err

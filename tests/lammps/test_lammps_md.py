"""densnet lammps md: replicas in real LAMMPS whose dipole series and dumps agree with the Python model,
skipped when done, then read by densnet ir (averaged) and densnet check-md; interrupted productions resumed
from their restart files equal uninterrupted runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from lammps_helpers import assert_matches

from densnet.cli import main
from densnet.deploy import lammps_md
from densnet.deploy.reference import evaluate, total_dipole
from densnet.stability import read_energies

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
    # each finished replica was checked as densnet check-md does; stability.json joins the checks
    stability = json.loads((out / "stability.json").read_text())
    assert [r["n_frames"] for r in stability] == [5, 5] and all(r["broken"] == [] for r in stability)
    assert stability[1] == json.loads((out / "replica-01" / "check.json").read_text())[0]
    assert "finished replicas OK" in capsys.readouterr().out

    # re-running skips finished replicas
    stamps = {f: (out / "replica-00" / f).stat().st_mtime_ns for f in ("done.json", "in.lammps", "system.data")}
    assert main(args) == 0
    assert "2 already done" in capsys.readouterr().out
    assert {f: (out / "replica-00" / f).stat().st_mtime_ns for f in stamps} == stamps  # inputs of what ran kept

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


def test_gas_phase_box_holds_the_molecule_in_any_orientation(tmp_path):
    """The fixed ('f f f') box of a free molecule: a long chain rotating about its centre of mass never leaves it
    (a box fitted to the start lost an end atom of a 12-ring chain after 13 ps), 15 A to spare."""
    from scipy.spatial.transform import Rotation

    chain = Atoms("C20", positions=[[1.4 * k, 0.3 * (k % 2), 0.0] for k in range(20)])
    lammps_md.write_data(tmp_path / "c.data", chain, ["C"])
    lines = (tmp_path / "c.data").read_text().splitlines()
    side = [float(line.split()[1]) for line in lines if line.endswith(("xlo xhi", "ylo yhi", "zlo zhi"))]
    start = lines.index("Atoms # molecular") + 2
    pos = np.array([[float(x) for x in line.split()[3:6]] for line in lines[start:start + 20]])
    assert np.allclose(side, side[0])
    com = pos.mean(axis=0)  # one element: centre of mass = centroid
    assert np.allclose(com, side[0] / 2)
    for rot in Rotation.random(200, random_state=1):
        moved = rot.apply(pos - com) + com
        assert moved.min() >= 15.0 - 1e-9 and moved.max() <= side[0] - 15.0 + 1e-9


def test_clear_errors(plugin, toy_model, tmp_path, capsys):
    ase.io.write(tmp_path / "s.xyz", molecule("CH3SH"))
    assert main(["lammps", "md", str(toy_model.path), str(tmp_path / "s.xyz"), "-o", str(tmp_path / "r"),
                 "--plugin", str(plugin), "-q"]) == 2
    assert "element(s) S not in the model" in capsys.readouterr().err
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    assert main(["lammps", "md", str(tmp_path / "bad.pt"), str(tmp_path / "s.xyz"), "-o", str(tmp_path / "r"),
                 "--plugin", str(plugin), "-q"]) == 2
    assert "bad.pt" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ resuming
# 1 replica, 20 Langevin + 200 NVE steps of 0.5 fs, restart files every 40 steps: the equilibration's in
# restart.a.bin at step 0, then restart.b.bin at 40, restart.a.bin at 80, ... (200: the end, a multiple of 40)
RESUME_SETTINGS = {"replicas": 1, "equilibrate": "10fs", "production": "100fs", "dump_every": 25,
                   "restart_every": "20fs"}
# Tolerance of resumed vs uninterrupted runs, relative to the largest |value| of the compared series. Restart
# files keep full double precision; the resumed run only rebuilds the neighbour list and re-sorts atoms, which
# changes summation order at round-off level. Measured (toy model, ethanol, 120/160 steps after a restart at
# step 80/40): positions <= 1e-13 A, velocities <= 7e-13 relative, dipole.dat <= 1.5e-12 relative (1e-13 e*A,
# the last of its 12 printed digits); a fresh restart of the same seed is bitwise equal. 1e-9 leaves a factor
# ~10^3 for round-off growth, while a resume off by one step or with new velocities differs by ~1e-2.
RESUME_RTOL = 1e-9


def md_args(model, plugin, start, out) -> list[str]:
    """CLI arguments equal to ``RESUME_SETTINGS``."""
    s = RESUME_SETTINGS
    return ["lammps", "md", str(model), str(start), "-o", str(out), "--replicas", str(s["replicas"]),
            "--equilibrate", s["equilibrate"], "--production", s["production"], "--dump-every", str(s["dump_every"]),
            "--restart-every", s["restart_every"], "--plugin", str(plugin), "-q"]


def interrupted_replica(model, plugin, start, out, steps: int = 100):
    """Replica whose production stopped after ``steps`` steps (not done; restart files at 0/40/80 steps)."""
    lammps_md.command(str(model), str(start), str(out), plugin=str(plugin), progress=False, _stop_after=steps,
                      **RESUME_SETTINGS)
    work = out / "replica-00"
    assert not (work / "done.json").exists()
    assert np.loadtxt(work / "dipole.dat").shape == (steps + 1, 4)  # rows beyond the last restart file
    assert dump_steps(work / "traj.lammpstrj") == list(range(0, steps + 1, 25))
    return work


def dump_steps(path) -> list[int]:
    """Timestep of each frame of a LAMMPS text dump."""
    lines = path.read_text().splitlines()
    return [int(lines[k + 1]) for k, line in enumerate(lines) if line == "ITEM: TIMESTEP"]


def final_state(work, step: int = 200) -> np.ndarray:
    """Positions (A) and velocities (A/ps) by atom id at ``step``, full precision, from the replica's restart
    file of that step (converted by LAMMPS write_data)."""
    name = next(n for n in lammps_md.RESTARTS if lammps_md.restart_step(work / n)[0] == step)
    text = (f"read_restart {name}\npair_style zero 5.0\npair_coeff * *\nwrite_data final.data nocoeff\n")
    subprocess.run([str(Path(sys.prefix) / "bin" / "lmp"), "-log", "none", "-nocite", "-screen", "none"],
                   input=text, text=True, cwd=work, check=True)
    lines = (work / "final.data").read_text().splitlines()
    n = int(lines[2].split()[0])

    def section(name: str) -> np.ndarray:
        k = next(i for i, line in enumerate(lines) if line.startswith(name))
        rows = np.loadtxt(lines[k + 2: k + 2 + n], ndmin=2)
        return rows[np.argsort(rows[:, 0])]

    return np.hstack([section("Atoms")[:, 3:6], section("Velocities")[:, 1:4]])


def assert_same_run(work, ref) -> None:
    """``work`` has the whole production exactly once and in order, equal to the uninterrupted ``ref``."""
    mu, mu_ref = np.loadtxt(work / "dipole.dat"), np.loadtxt(ref / "dipole.dat")
    assert np.array_equal(mu[:, 0], np.arange(201) * 0.5)  # strictly increasing, gap-free, steps 0..200
    assert_matches(mu[:, 1:], mu_ref[:, 1:], "resumed dipole.dat", rtol=RESUME_RTOL)
    assert dump_steps(work / "traj.lammpstrj") == list(range(0, 201, 25))
    frames, frames_ref = np.array(dump_frames(work / "traj.lammpstrj")), np.array(dump_frames(ref / "traj.lammpstrj"))
    assert np.array_equal(frames[..., [0, 1, 2, 6, 7, 8]], frames_ref[..., [0, 1, 2, 6, 7, 8]])  # id mol type image
    # 10 printed digits: a flipped last digit is 1e-8 A on x ~ 20 A, within RESUME_RTOL x 20 A
    assert_matches(frames[..., 3:6], frames_ref[..., 3:6], "resumed dump: positions", rtol=RESUME_RTOL)
    assert_matches(frames[..., 9:], frames_ref[..., 9:], "resumed dump: q, p", rtol=RESUME_RTOL)
    state, state_ref = final_state(work), final_state(ref)
    assert_matches(state[:, :3], state_ref[:, :3], "positions at the end", rtol=RESUME_RTOL)
    assert_matches(state[:, 3:], state_ref[:, 3:], "velocities at the end", rtol=RESUME_RTOL)
    (t, e), (t_ref, e_ref) = read_energies(work / "log.lammps"), read_energies(ref / "log.lammps")
    # the log is joined across the resume; thermo prints 8 digits (a flipped last digit is <= 1e-7 relative)
    assert np.array_equal(t, t_ref) and np.allclose(e, e_ref, rtol=1e-7, atol=0)


def test_output_cuts_drop_rows_from_the_restart_step_and_unfinished_writes(tmp_path):
    """dipole.dat/traj.lammpstrj are cut before the restart step or at a row/frame cut short by a kill; the
    dump is scanned from its end in chunks (headers across chunk boundaries included)."""
    frame = ("ITEM: TIMESTEP\n{}\nITEM: NUMBER OF ATOMS\n2\nITEM: BOX BOUNDS ff ff ff\n0 9\n0 9\n0 9\n"
             "ITEM: ATOMS id x\n1 0.5\n2 1.5\n")
    frames = [frame.format(s).encode() for s in (0, 25, 50, 75)]
    dump = tmp_path / "traj.lammpstrj"
    dump.write_bytes(b"".join(frames) + frame.format(100).encode()[:-3])  # a frame cut short by a kill
    ends = np.cumsum([len(f) for f in frames])
    for chunk in (5, 13, 64, 1 << 22):
        assert lammps_md.dump_cut(dump, 80, chunk) == (ends[3], 75)
        assert lammps_md.dump_cut(dump, 75, chunk) == (ends[2], 50)
        assert lammps_md.dump_cut(dump, 1, chunk) == (ends[0], 0)
        assert lammps_md.dump_cut(dump, 0, chunk) == (0, None)
    dump.write_bytes(b"".join(frames[:3]) + frames[3][:-1])  # last frame without its last newline
    assert lammps_md.dump_cut(dump, 80) == (ends[2], 50)

    dip = tmp_path / "dipole.dat"
    rows = "".join(f"{0.5 * k:.4f} 0.1 0.2 0.3\n" for k in range(6))
    dip.write_text("# time_fs mu_x mu_y mu_z\n" + rows + "3.0000 0.1")  # last row cut short
    header = len("# time_fs mu_x mu_y mu_z\n")
    assert lammps_md.dipole_cut(dip, 4, 0.5) == (header + 4 * len("0.0000 0.1 0.2 0.3\n"), 4)
    assert lammps_md.dipole_cut(dip, 10, 0.5) == (header + len(rows), 6)
    assert lammps_md.dipole_cut(dip, 0, 0.5) == (header, 0)


@pytest.fixture(scope="module")
def resume_case(plugin, toy_model, tmp_path_factory):
    """(start structure, uninterrupted replica directory) of the resume tests."""
    tmp = tmp_path_factory.mktemp("resume")
    ase.io.write(tmp / "start.xyz", molecule("CH3CH2OH"))
    assert main(md_args(toy_model.path, plugin, tmp / "start.xyz", tmp / "full")) == 0
    return tmp / "start.xyz", tmp / "full" / "replica-00"


def test_interrupted_production_resumes_where_it_stopped(plugin, toy_model, resume_case, tmp_path, capsys):
    start, ref = resume_case
    work = interrupted_replica(toy_model.path, plugin, start, tmp_path / "runs")
    steps = {n: lammps_md.restart_step(work / n)[0] for n in lammps_md.RESTARTS}
    assert steps == {"restart.a.bin": 80, "restart.b.bin": 40}
    capsys.readouterr()

    # other settings than those the restart files were written with: refused, nothing touched
    args = md_args(toy_model.path, plugin, start, tmp_path / "runs")
    assert main([*args, "--temperature", "310"]) == 2
    assert "written with other settings (temperature)" in capsys.readouterr().err
    assert np.loadtxt(work / "dipole.dat").shape == (101, 4)

    assert main(args) == 0
    out = capsys.readouterr().out
    assert "replica-00: resuming production at step 80 of 200 from restart.a.bin (80 steps kept, 120 to run)" in out
    assert "(0 already done, 1 resumed with 80 production steps kept)" in out
    assert json.loads((work / "done.json").read_text())["resumed_from_step"] == 80
    assert "run 200 upto" in (work / "resume.lammps").read_text()
    assert_same_run(work, ref)
    # the resumed segment's restart files continue the alternation: 120 -> b, 160 -> a, 200 -> b
    assert {n: lammps_md.restart_step(work / n)[0] for n in lammps_md.RESTARTS} == {
        "restart.a.bin": 160, "restart.b.bin": 200}

    stamp = (work / "done.json").stat().st_mtime_ns
    assert main(args) == 0  # finished: skipped
    assert "1 already done" in capsys.readouterr().out
    assert (work / "done.json").stat().st_mtime_ns == stamp


def test_corrupt_restart_falls_back_to_the_other_or_starts_again(plugin, toy_model, resume_case, tmp_path,
                                                                  capsys):
    start, ref = resume_case
    # newest restart file (step 80) cut short as by a kill while it was written: resume from step 40
    work = interrupted_replica(toy_model.path, plugin, start, tmp_path / "a")
    data = (work / "restart.a.bin").read_bytes()
    (work / "restart.a.bin").write_bytes(data[: len(data) // 2])
    capsys.readouterr()
    assert main(md_args(toy_model.path, plugin, start, tmp_path / "a")) == 0
    out = capsys.readouterr().out
    assert "replica-00: restart.a.bin is unusable (ERROR: Incomplete or corrupted LAMMPS restart file" in out
    assert "replica-00: resuming production at step 40 of 200 from restart.b.bin" in out
    assert json.loads((work / "done.json").read_text())["resumed_from_step"] == 40
    assert_same_run(work, ref)

    # both unusable (one cut short, one overwritten with garbage): the replica starts again
    work = interrupted_replica(toy_model.path, plugin, start, tmp_path / "b")
    (work / "restart.a.bin").write_bytes(data[: len(data) // 2])
    (work / "restart.b.bin").write_bytes(np.random.default_rng(0).bytes(len(data)))
    assert main(md_args(toy_model.path, plugin, start, tmp_path / "b")) == 0
    out = capsys.readouterr().out
    assert "replica-00: restart.b.bin is unusable (ERROR: Invalid LAMMPS restart file" in out
    assert "replica-00: no usable restart file; starting the replica again" in out
    assert "resumed_from_step" not in json.loads((work / "done.json").read_text())
    assert not (work / "resume.lammps").exists()
    assert_same_run(work, ref)

"""densnet label: chunked storage, resume after kill -9, splits, bad input, extxyz round trip."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from densnet.cli import main
from densnet.dataset import labelling_stats, load, load_h5, read_index, write_extxyz
from densnet.errors import DensnetError
from labelling_helpers import jitter

DENSNET = [sys.executable, "-m", "densnet.cli"]


def test_dataset_contents(water_dataset, water_frames):
    path, ds = water_dataset
    assert len(ds.frames) == len(water_frames)
    info = read_index(path)
    assert info["settings"]["level_of_theory"]["xc"] == "pbe"
    for f, a in zip(ds.frames, water_frames, strict=True):
        np.testing.assert_allclose(f.positions, a.positions, atol=1e-7)  # extxyz precision
        assert f.dm.shape == (24, 24)  # def2-SVP water
        assert f.coeffs.shape == (49 + 2 * 11,)
    assert set(ds.sad_coeffs) == {"H", "O"} and set(ds.atom_energies) == {"H", "O"}
    # each trajectory id maps to one split only, and all three splits are populated
    assert sorted({f.split for f in ds.frames}) == [0, 1, 2]


def test_info_reports_scf_statistics_of_complete_chunks(water_dataset, capsys):
    path, ds = water_dataset
    st = labelling_stats(path)
    assert st["frames"] == len(ds.frames) and st["attempts"] == {0: len(ds.frames)}  # all plain DIIS
    assert 1 <= st["cycles_min"] <= st["cycles_mean"] <= st["cycles_max"] < 100 and st["seconds_mean"] > 0
    main(["info", str(path)])
    out = capsys.readouterr().out
    assert f"{st['cycles_mean']:.1f} cycles per frame" in out and f"{len(ds.frames)} by plain DIIS" in out


def test_splits_never_straddle_trajectories(tmp_path):
    from densnet.dataset import assign_splits, frame_groups

    frames = []
    for t in range(30):
        for _ in range(7):
            a = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
            a.info["traj"] = f"T{t}"
            frames.append(a)
    groups = frame_groups(frames)
    split = assign_splits(groups, (0.8, 0.1, 0.1), seed=3)
    for g in np.unique(groups):
        assert len(set(split[groups == g].tolist())) == 1
    frac = np.bincount(split, minlength=3) / len(split)
    assert abs(frac[2] - 0.1) < 0.05 and abs(frac[1] - 0.1) < 0.05


def _label_cmd(frames: Path, out: Path, *extra: str) -> list[str]:
    return [*DENSNET, "label", str(frames), "-o", str(out), "--chunk-size", "2", "-q", *extra]


def test_resume_after_kill_gives_same_labels(tmp_path):
    frames = jitter(molecule("H2O"), 5, seed=1) + jitter(molecule("CH4"), 3, seed=2)
    ase.io.write(tmp_path / "f.extxyz", frames)
    # uninterrupted reference
    subprocess.run(_label_cmd(tmp_path / "f.extxyz", tmp_path / "ref.h5"), check=True, capture_output=True)
    # interrupted run: kill -9 as soon as the first chunk is complete
    out = tmp_path / "run.h5"
    proc = subprocess.Popen(_label_cmd(tmp_path / "f.extxyz", out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    chunk0 = Path(str(out) + ".d") / "chunk-00000.h5"
    deadline = time.time() + 120
    while not _index_lists(out, chunk0.name) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert chunk0.exists(), "the run should have completed a chunk before being killed"
    partial = load_h5(out)  # the file is readable after the kill
    assert 0 < len(partial.frames) < len(frames)
    digest = hashlib.sha256(chunk0.read_bytes()).hexdigest()
    # resume
    res = subprocess.run(_label_cmd(tmp_path / "f.extxyz", out), check=True, capture_output=True, text=True)
    assert "done before" in res.stdout
    assert hashlib.sha256(chunk0.read_bytes()).hexdigest() == digest, "complete chunks are never rewritten"
    a, b = load_h5(tmp_path / "ref.h5"), load_h5(out)
    assert [f.index for f in a.frames] == [f.index for f in b.frames] == list(range(len(frames)))
    for fa, fb in zip(a.frames, b.frames, strict=True):
        assert abs(fa.energy - fb.energy) < 1e-6  # conv_tol 1e-10 Ha = 3e-9 eV; different initial guesses
        np.testing.assert_allclose(fa.forces, fb.forces, atol=1e-4)
        np.testing.assert_allclose(fa.dipole, fb.dipole, atol=1e-4)
        np.testing.assert_allclose(fa.coeffs, fb.coeffs, atol=1e-4)
        assert fa.split == fb.split
    assert not list((Path(str(out) + ".d") / "pending").iterdir())


def _index_lists(index: Path, chunk: str) -> bool:
    """True once the dataset index names ``chunk`` (the index is replaced atomically)."""
    try:
        return chunk in read_index(index)["chunks"]
    except Exception:  # not written yet
        return False


def test_chunk_written_before_a_kill_but_not_indexed_is_adopted(tmp_path):
    """A kill between writing a chunk and rewriting the index loses nothing: the chunk is adopted, not redone."""
    frames = jitter(molecule("H2O"), 4, seed=4)
    ase.io.write(tmp_path / "f.extxyz", frames)
    subprocess.run(_label_cmd(tmp_path / "f.extxyz", tmp_path / "ref.h5"), check=True, capture_output=True)
    store = tmp_path / "run.h5.d"
    store.mkdir()
    orphan = store / "chunk-00001.h5"
    orphan.write_bytes((tmp_path / "ref.h5.d" / "chunk-00001.h5").read_bytes())
    (store / "chunk-00000.h5").write_bytes(b"not a chunk")  # a foreign file is moved aside, not trusted
    digest = hashlib.sha256(orphan.read_bytes()).hexdigest()
    res = subprocess.run(_label_cmd(tmp_path / "f.extxyz", tmp_path / "run.h5"), check=True, capture_output=True,
                         text=True)
    assert "2 done before" in res.stdout
    assert hashlib.sha256(orphan.read_bytes()).hexdigest() == digest
    assert (store / "chunk-00000.h5.stale").read_bytes() == b"not a chunk"
    a, b = load_h5(tmp_path / "ref.h5"), load_h5(tmp_path / "run.h5")
    assert [f.index for f in b.frames] == list(range(4))
    for fa, fb in zip(a.frames, b.frames, strict=True):
        assert abs(fa.energy - fb.energy) < 1e-6


def _pool_workers(pid: int) -> list[int]:
    """PIDs of the multiprocessing (spawn) workers whose parent is ``pid`` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmd = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
        if ppid == pid and b"spawn_main" in cmd:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_workers_end_when_the_labelling_process_is_killed(tmp_path):
    """SIGTERM (like SIGKILL) of `densnet label --workers 2` must not leave its PySCF workers labelling on as orphans
    (each benzene frame takes tens of CPU seconds, far longer than the 15 s allowed here)."""
    ase.io.write(tmp_path / "f.extxyz", jitter(molecule("C6H6"), 4))
    proc = subprocess.Popen(_label_cmd(tmp_path / "f.extxyz", tmp_path / "d.h5", "--workers", "2"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(workers := _pool_workers(proc.pid)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert len(workers) == 2, "the pool should have started two workers"
    time.sleep(3)  # let them import PySCF and start their first frames
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    deadline = time.time() + 15
    while (alive := [w for w in workers if Path(f"/proc/{w}").exists()]) and time.time() < deadline:
        time.sleep(0.2)
    for w in alive:  # clean up before failing
        os.kill(w, signal.SIGKILL)
    assert not alive, f"workers {alive} still running after their labelling process was killed"


def test_parallel_workers_match_serial(tmp_path, water_dataset):
    """--workers 2 produces the same labels as the serial run."""
    path, serial = water_dataset
    frames = ase.io.read(path.parent / "frames.extxyz", ":")
    ase.io.write(tmp_path / "f.extxyz", frames)
    assert main(["label", str(tmp_path / "f.extxyz"), "-o", str(tmp_path / "p.h5"), "--workers", "2", "-q",
                 "--chunk-size", "2", "--split", "0.5,0.25,0.25", "--store-dm", "float64"]) == 0
    par = load_h5(tmp_path / "p.h5")
    for fa, fb in zip(serial.frames, par.frames, strict=True):
        assert abs(fa.energy - fb.energy) < 1e-6
        np.testing.assert_allclose(fa.forces, fb.forces, atol=1e-4)


def test_unconverged_scf_is_reported_and_left_out(tmp_path, capsys):
    ase.io.write(tmp_path / "f.extxyz", jitter(molecule("H2"), 2))
    # one SCF cycle per attempt: neither DIIS, the damped level-shifted retry nor Newton can converge
    rc = main(["label", str(tmp_path / "f.extxyz"), "-o", str(tmp_path / "d.h5"), "--max-cycle", "1", "-q"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "not converged" in err and "left out" in err
    ds = load_h5(tmp_path / "d.h5")
    assert len(ds.frames) == 0 and sorted(ds.failed) == [0, 1]


@pytest.mark.parametrize(
    "atoms, message",
    [
        (Atoms("XeH2", positions=[[0, 0, 0], [1.7, 0, 0], [-1.7, 0, 0]]), "unsupported element"),
        (Atoms("CH3", positions=[[0, 0, 0], [1.09, 0, 0], [-0.5, 0.94, 0], [-0.5, -0.94, 0]][:1]
               + [[1.09, 0, 0], [-0.5, 0.94, 0], [-0.5, -0.94, 0]]), "even count"),
        (Atoms("H2O", positions=[[0, 0, 0], [0.3, 0, 0], [-0.2, 0.9, 0]]), "closer than 0.5 A"),
    ],
)
def test_bad_frames_give_clear_errors(tmp_path, capsys, atoms, message):
    ase.io.write(tmp_path / "f.extxyz", atoms)
    assert main(["label", str(tmp_path / "f.extxyz"), "-o", str(tmp_path / "d.h5"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "d.h5").exists()


def test_unreadable_and_missing_input(tmp_path, capsys):
    (tmp_path / "junk.xyz").write_text("this is not\na structure file\n")
    assert main(["label", str(tmp_path / "junk.xyz"), "-o", str(tmp_path / "d.h5")]) == 2
    assert "unreadable structure file" in capsys.readouterr().err
    assert main(["label", str(tmp_path / "missing.xyz"), "-o", str(tmp_path / "d.h5")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_existing_output_with_other_settings_is_refused(tmp_path, capsys):
    ase.io.write(tmp_path / "f.extxyz", jitter(molecule("H2"), 2))
    args = ["label", str(tmp_path / "f.extxyz"), "-o", str(tmp_path / "d.h5"), "-q"]
    assert main(args) == 0
    assert main(args) == 0  # same settings: nothing to do, fine
    assert main([*args, "--xc", "b3lyp"]) == 2
    err = capsys.readouterr().err
    assert "different settings" in err and "b3lyp" in err
    (tmp_path / "other.h5").write_bytes(b"not hdf5 at all")
    assert main(["label", str(tmp_path / "f.extxyz"), "-o", str(tmp_path / "other.h5"), "-q"]) == 2


def test_extxyz_round_trip_through_ase(tmp_path, water_dataset):
    path, ds = water_dataset
    assert main(["convert", str(path), "-o", str(tmp_path / "d.extxyz")]) == 0
    images = ase.io.read(tmp_path / "d.extxyz", ":")
    for a, f in zip(images, ds.frames, strict=True):
        assert a.get_potential_energy() == pytest.approx(f.energy, abs=1e-8)
        np.testing.assert_allclose(a.get_forces(), f.forces, atol=1e-8)
        np.testing.assert_allclose(a.get_dipole_moment(), f.dipole, atol=1e-8)
    # and densnet reads it back (as it reads extxyz labelled by other codes)
    back = load(tmp_path / "d.extxyz")
    assert [fr.split for fr in back.frames] == [fr.split for fr in ds.frames]
    np.testing.assert_allclose(back.frames[0].forces, ds.frames[0].forces, atol=1e-8)


def test_label_to_extxyz_directly(tmp_path):
    ase.io.write(tmp_path / "f.extxyz", jitter(molecule("H2"), 2))
    assert main(["label", str(tmp_path / "f.extxyz"), "-o", str(tmp_path / "out.extxyz"), "-q"]) == 0
    images = ase.io.read(tmp_path / "out.extxyz", ":")
    assert len(images) == 2 and images[0].get_forces().shape == (2, 3)
    assert (tmp_path / "out.h5").exists()


def test_summary_of_a_resume_that_labels_nothing_keeps_the_dataset_timing(tmp_path):
    """--summary-json always carries the whole dataset's SCF statistics, not only this run's."""
    import json

    ase.io.write(tmp_path / "f.extxyz", jitter(molecule("H2"), 2))
    args = ["label", str(tmp_path / "f.extxyz"), "-o", str(tmp_path / "d.h5"), "-q",
            "--summary-json", str(tmp_path / "s.json")]
    assert main(args) == 0
    first = json.loads((tmp_path / "s.json").read_text())
    assert first["labelled_now"] == 2 and first["dataset"]["frames"] == 2
    assert main(args) == 0  # resume: nothing left to do
    again = json.loads((tmp_path / "s.json").read_text())
    assert again["labelled_now"] == 0 and again["seconds_per_frame"] is None
    assert again["dataset"] == first["dataset"] == json.loads(json.dumps(labelling_stats(tmp_path / "d.h5")))


def test_foreign_extxyz_labelled_elsewhere(tmp_path):
    """A file written by plain ASE (another code's labels) is read with its energies, forces, dipoles."""
    from ase.calculators.singlepoint import SinglePointCalculator

    a = molecule("H2O")
    a.calc = SinglePointCalculator(a, energy=-1.5, forces=np.ones((3, 3)), dipole=np.array([0.1, 0.2, 0.3]))
    ase.io.write(tmp_path / "x.extxyz", [a])
    ds = load(tmp_path / "x.extxyz")
    assert ds.frames[0].energy == -1.5 and ds.frames[0].split == 2
    np.testing.assert_allclose(ds.frames[0].dipole, [0.1, 0.2, 0.3])
    write_extxyz(ds, tmp_path / "y.extxyz")


def test_second_run_on_same_output_is_refused_while_first_runs(tmp_path):
    ase.io.write(tmp_path / "f.extxyz", jitter(molecule("H2O"), 4))
    first = subprocess.Popen(_label_cmd(tmp_path / "f.extxyz", tmp_path / "d.h5"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    lock = tmp_path / "d.h5.d" / "lock"
    deadline = time.time() + 60
    while not (lock.exists() and lock.read_text().strip()) and time.time() < deadline:
        time.sleep(0.05)
    second = subprocess.run(_label_cmd(tmp_path / "f.extxyz", tmp_path / "d.h5"), capture_output=True, text=True)
    first.wait()
    assert second.returncode == 2 and "another densnet label is writing" in second.stderr


def test_refit_to_another_basis_keeps_exact_count_and_dipole(tmp_path, water_dataset):
    from densnet.basis import one_centre_moments
    from densnet.dft import aux_function_atoms, make_mol

    path, ds = water_dataset
    assert main(["refit", str(path), "-o", str(tmp_path / "etb.h5"), "--density-basis", "even-tempered", "-q"]) == 0
    new = load_h5(tmp_path / "etb.h5")
    assert read_index(tmp_path / "etb.h5")["settings"]["level_of_theory"]["density_basis"] == "even-tempered"
    assert [f.split for f in new.frames] == [f.split for f in ds.frames]
    from ase.units import Bohr

    for f_old, f in zip(ds.frames, new.frames, strict=True):
        assert f.energy == f_old.energy
        aux = make_mol(f.numbers, f.positions, new.density_basis)
        assert len(f.coeffs) == aux.nao_nr() > len(f_old.coeffs)
        n, d = one_centre_moments(aux)
        centres = aux.atom_coords()[aux_function_atoms(aux)]
        assert abs(f.coeffs @ n - 10) < 1e-9
        mu = (f.numbers @ (f.positions / Bohr) - f.coeffs @ (n[:, None] * centres + d)) * Bohr
        np.testing.assert_allclose(mu, f.dipole, atol=1e-8)
    for el, sad in new.sad_coeffs.items():
        aux = make_mol([{"H": 1, "O": 8}[el]], [[0, 0, 0]], new.density_basis, spin=1 if el == "H" else 0)
        assert abs(one_centre_moments(aux)[0] @ sad - {"H": 1, "O": 8}[el]) < 1e-9
    # refitting into the original basis reproduces the labelled coefficients (float64 dm in this fixture)
    assert main(["refit", str(path), "-o", str(tmp_path / "same.h5"), "--density-basis", "def2-universal-jfit",
                 "-q"]) == 0
    same = load_h5(tmp_path / "same.h5")
    for a, b in zip(ds.frames, same.frames, strict=True):
        np.testing.assert_allclose(a.coeffs, b.coeffs, atol=1e-6)


def test_refit_resumes_after_a_kill(tmp_path, water_dataset):
    """A refit killed after its first chunk continues from it (the finished chunk is not rewritten); a foreign
    or different unfinished refit in the way is refused."""
    import shutil

    path, _ = water_dataset
    full = tmp_path / "full.h5"
    assert main(["refit", str(path), "-o", str(full), "--density-basis", "def2-universal-jkfit", "-q"]) == 0
    chunks = read_index(full)["chunks"]
    assert len(chunks) >= 2
    part = tmp_path / "part.h5"
    (tmp_path / "part.h5.d").mkdir()
    for name in (chunks[0], "refit.json"):
        shutil.copy(tmp_path / "full.h5.d" / name, tmp_path / "part.h5.d" / name)
    stamp = (tmp_path / "part.h5.d" / chunks[0]).stat().st_mtime_ns
    assert main(["refit", str(path), "-o", str(part), "--density-basis", "def2-universal-jkfit", "-q"]) == 0
    assert (tmp_path / "part.h5.d" / chunks[0]).stat().st_mtime_ns == stamp
    a, b = load_h5(full), load_h5(part)
    for fa, fb in zip(a.frames, b.frames, strict=True):
        np.testing.assert_array_equal(fa.coeffs, fb.coeffs)
    (tmp_path / "other.h5.d").mkdir()
    shutil.copy(tmp_path / "full.h5.d" / "refit.json", tmp_path / "other.h5.d" / "refit.json")
    with pytest.raises(DensnetError, match="does not hold an unfinished refit"):
        from densnet.refit import refit

        refit(path, tmp_path / "other.h5", "even-tempered", progress=False)

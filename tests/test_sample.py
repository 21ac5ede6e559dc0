"""densnet sample: reproducible thermal frames with intact bonds (real GFN2-xTB through tblite)."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
from ase.build import molecule

from densnet.cli import main
from densnet.sample import bond_graph, same_bonds


def _run(tmp_path, name, *extra):
    ase.io.write(tmp_path / "start.xyz", molecule("CH3OH"))
    out = tmp_path / name
    assert main(["sample", str(tmp_path / "start.xyz"), "-o", str(out), "--temperature", "400", "--frames", "6",
                 "-q", *extra]) == 0
    return ase.io.read(out, ":")


def test_md_sampling_is_reproducible_and_keeps_bonds(tmp_path):
    args = ("--trajectories", "2", "--equilibrate", "20", "--stride", "10", "--seed", "7")
    a = _run(tmp_path, "a.extxyz", *args)
    b = _run(tmp_path, "b.extxyz", *args)
    c = _run(tmp_path, "c.extxyz", *args[:-1], "8")
    assert len(a) == 6
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.positions, y.positions)
    assert not np.allclose(a[0].positions, c[0].positions)
    ref = bond_graph(molecule("CH3OH"))
    assert all(same_bonds(ref, f) for f in a)
    assert len({f.info["traj"] for f in a}) == 2
    # frames move: thermal displacements of a few hundredths of an Angstrom at least
    assert np.abs(a[0].positions - a[1].positions).max() > 0.02


def test_md_sampling_resumes_after_a_kill(tmp_path, monkeypatch):
    from densnet import sample
    from densnet.errors import DensnetError

    ase.io.write(tmp_path / "start.xyz", molecule("CH3OH"))
    kw = dict(temperature=400, n_frames=6, method="gfn2", seed=7, trajectories=3, stride_fs=10, equilibrate_fs=20,
              timestep_fs=0.5, progress=False)
    whole = sample.run(str(tmp_path / "start.xyz"), str(tmp_path / "whole.extxyz"), **kw)
    assert not (tmp_path / "whole.extxyz.parts").exists()  # removed once the output is written
    real, made = sample.xtb_calculator, []

    def counting(kill_at=None):
        def factory():
            made.append(1)
            if len(made) == kill_at:
                raise KeyboardInterrupt  # the kill, while trajectory 1 starts
            return real()
        return factory

    monkeypatch.setattr(sample, "xtb_calculator", counting(kill_at=2))
    with pytest.raises(KeyboardInterrupt):
        sample.run(str(tmp_path / "start.xyz"), str(tmp_path / "b.extxyz"), **kw)
    parts = tmp_path / "b.extxyz.parts"
    assert sorted(p.name for p in parts.glob("traj-*")) == ["traj-0000.extxyz"]
    assert not (tmp_path / "b.extxyz").exists()
    with pytest.raises(DensnetError, match="another sampling run"):
        sample.run(str(tmp_path / "start.xyz"), str(tmp_path / "b.extxyz"), **{**kw, "seed": 8})
    made.clear()
    monkeypatch.setattr(sample, "xtb_calculator", counting())
    again = sample.run(str(tmp_path / "start.xyz"), str(tmp_path / "b.extxyz"), **kw)
    assert len(made) == 2  # trajectories 1 and 2 only: trajectory 0 was re-read
    assert len(again) == len(whole) == 6 and not parts.exists()
    for x, y in zip(whole, again, strict=True):
        np.testing.assert_allclose(x.positions, y.positions, atol=1e-7)  # extxyz precision for trajectory 0
        assert x.info["traj"] == y.info["traj"]


def test_normal_mode_sampling_temperature_scaling():
    """Classical harmonic sampling: mean-square displacements grow linearly with temperature."""
    from densnet.sample import sample_normal_modes

    start = molecule("CH3OH")
    ref = bond_graph(start)
    msd = {}
    for t in (100.0, 400.0):
        frames = sample_normal_modes([start], 40, t, seed=1, progress=False)
        assert len({f.info["traj"] for f in frames}) == 40 and all(same_bonds(ref, f) for f in frames)
        mean = np.mean([f.positions for f in frames], axis=0)
        msd[t] = np.mean([np.sum((f.positions - mean) ** 2) for f in frames])
    assert 2.5 < msd[400.0] / msd[100.0] < 6.0


def test_bond_check_detects_fragments():
    m = molecule("CH3OH")
    ref = bond_graph(m)
    broken = m.copy()
    broken.positions[broken.get_chemical_symbols().index("O")] += [2.0, 0, 0]
    assert same_bonds(ref, m) and not same_bonds(ref, broken)


def test_bad_sampling_input(tmp_path, capsys):
    ase.io.write(tmp_path / "start.xyz", molecule("H2O"))
    assert main(["sample", str(tmp_path / "start.xyz"), "-o", str(tmp_path / "x.extxyz"), "--temperature", "-5",
                 "--frames", "3"]) == 2
    assert "--temperature must be given and positive" in capsys.readouterr().err


def test_close_contact_frames(tmp_path):
    """Each frame moves one terminal atom to 0.75-0.95 of its bond length, no other atom closer; the rest is
    the start; reproducible by seed; no terminal atom is a clear error."""
    import pytest

    from densnet.errors import DensnetError
    from densnet.sample import CLOSE_CONTACT_RANGE, sample_close_contacts

    start = molecule("CH3CH2OH")
    frames = sample_close_contacts([start], 40, seed=3)
    again = sample_close_contacts([start], 40, seed=3)
    lo, hi = CLOSE_CONTACT_RANGE
    moved_kinds = set()
    for f, g in zip(frames, again, strict=True):
        np.testing.assert_array_equal(f.positions, g.positions)
        i, j = f.info["moved_atom"], f.info["partner"]
        changed = np.flatnonzero(np.abs(f.positions - start.positions).max(1) > 0)
        assert list(changed) == [i]
        r = f.get_distance(i, j)
        assert lo * start.get_distance(i, j) - 1e-9 <= r <= hi * start.get_distance(i, j) + 1e-9
        d = np.delete(f.get_distances(i, range(len(f))), [i, j])
        assert d.min() >= r
        moved_kinds.add(start.get_chemical_symbols()[j])
    assert moved_kinds == {"C", "O"}  # H's on both carbons and on the oxygen are pushed
    assert len({f.info["traj"] for f in frames}) == 40
    with pytest.raises(DensnetError, match="terminal"):
        sample_close_contacts([molecule("C6H6")[:6]], 2, seed=0)  # a bare carbon ring: no terminal atom


def test_close_contacts_from_the_cli(tmp_path):
    ase.io.write(tmp_path / "start.xyz", molecule("CH3OH"))
    out = tmp_path / "close.extxyz"
    assert main(["sample", str(tmp_path / "start.xyz"), "-o", str(out), "--method", "close-contacts",
                 "--frames", "5", "-q"]) == 0  # no --temperature needed
    frames = ase.io.read(out, ":")
    assert len(frames) == 5 and all(f.info["source"] == "close-contacts" for f in frames)

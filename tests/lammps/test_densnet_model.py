"""A real (tiny, random-weight) densnet model exported with densnet-export, inside LAMMPS.

LAMMPS energies, forces, charges, atomic dipoles and total dipole are compared with the Python model:
the ASE calculator (DenSNetCalculator on the eager DensNet) and the eager ContractModel (per-atom
outputs the calculator does not expose). The model's type order is H, C, O while LAMMPS types are
C, H, O, so the pair_coeff element mapping is exercised too.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from lammps_helpers import (
    ELEMENTS,
    VENV_PREFIX,
    assert_matches,
    ethanol_gas,
    lmp_one_and_two_ranks,
    molecule_box,
    new_lammps,
    run_zero,
    setup_commands,
    write_data,
)

from densnet.calculator import DenSNetCalculator
from densnet.deploy.reference import evaluate, total_dipole
from densnet.model.contract import ContractModel

pytestmark = pytest.mark.lammps

def python_model(atoms, model) -> dict[str, np.ndarray]:
    """The Python model on ``atoms``: calculator (energy, forces, charges, dipole) + eager per-atom outputs."""
    a = atoms.copy()
    a.calc = DenSNetCalculator(model.eager)
    eager = evaluate(ContractModel(model.eager), atoms, model.metadata)
    return {
        "energy": np.array([a.get_potential_energy()]),
        "forces": a.get_forces(),
        "charges": a.get_charges(),
        "dipole": a.get_dipole_moment(),
        "atom_energy": eager["atom_energy"],
        "atomic_dipoles": eager["atomic_dipoles"],
        "virial": eager["virial"],
        "eager_energy": eager["energy"],
        "eager_dipole": total_dipole(atoms, eager),
    }


def lammps_run0(plugin: Path, data: Path, model: Path, boundary: str, pair_args: str) -> dict[str, np.ndarray]:
    res = run_zero(plugin, data, model, boundary, pair_args)
    return {**res, "dipole": res["global"][:3], "total_charge": float(res["global"][3])}


def check(res: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> None:
    for key in ("energy", "atom_energy", "forces", "virial", "charges", "atomic_dipoles", "dipole"):
        assert_matches(res[key], ref[key], key)
    # the calculator and the eager contract model agree with each other, too
    assert_matches(ref["eager_energy"], ref["energy"], "eager vs calculator energy")
    assert_matches(ref["eager_dipole"], ref["dipole"], "eager vs calculator dipole")
    assert abs(res["total_charge"]) < 1e-10 * len(res["charges"])
    assert np.abs(ref["charges"]).max() > 1e-3 and np.abs(ref["forces"]).max() > 1e-3  # not vacuous


@pytest.fixture(scope="module")
def box():
    """64 small H/C/O molecules (270 atoms), periodic, some sticking out of the box."""
    atoms = molecule_box(n_per_side=4, spacing=4.2, seed=11)
    assert len(set(atoms.get_array("mol-id"))) >= 50 and (atoms.get_scaled_positions(wrap=False) >= 1.0).any()
    return atoms


@pytest.mark.parametrize("mode", ["shift", "ghost", "halo"])
def test_gas_phase_ethanol_matches_python_model(plugin, densnet_model, tmp_path, mode):
    atoms = ethanol_gas()
    data = write_data(tmp_path / "ethanol.data", atoms, ELEMENTS)
    res = lammps_run0(plugin, data, densnet_model.path, "f f f", f"mode {mode}")
    check(res, python_model(atoms, densnet_model))


@pytest.mark.parametrize("mode", ["shift", "ghost", "halo", "halo recompute yes", "shift memory release"])
def test_periodic_molecule_box_matches_python_model(plugin, densnet_model, box, tmp_path, mode):
    data = write_data(tmp_path / "box.data", box, ELEMENTS)
    res = lammps_run0(plugin, data, densnet_model.path, "p p p", f"mode {mode}")
    check(res, python_model(box, densnet_model))


@pytest.mark.parametrize("mode", ["halo", "halo recompute", "ghost"])
def test_mpi_two_ranks_match_one_rank_and_python_model(plugin, densnet_model, box, tmp_path, mode):
    """mpirun -np 2 (halo mode, the default for several ranks, also re-running the stages in the backward pass,
    or ghost mode) = 1 rank (shift mode) = Python model, at step 0 and after 4 MD steps."""
    args = {"halo": "", "halo recompute": "recompute yes", "ghost": "mode ghost"}[mode]
    one, two = lmp_one_and_two_ranks(plugin, densnet_model.path, box, tmp_path, pair_args_2=args)
    assert "densnet: shift mode" in one["log"] and f"densnet: {mode.split()[0]} mode" in two["log"]
    assert any(f"{g} MPI processor grid" in two["log"] for g in ("2 by 1 by 1", "1 by 2 by 1", "1 by 1 by 2"))
    for key in one:
        if key != "log":
            assert_matches(two[key], one[key], f"2 ranks vs 1 rank: {key}")
    ref = python_model(box, densnet_model)
    assert_matches(one["thermo0"][:1], ref["energy"], "energy (lmp)")
    assert_matches(one["thermo0"][1:4], ref["dipole"], "dipole (lmp)")
    assert_matches(one["dump0"][:, 1:4], ref["forces"], "forces (lmp)")
    assert_matches(one["dump0"][:, 4], ref["charges"], "charges (lmp)")
    assert_matches(one["dump0"][:, 5:8], ref["atomic_dipoles"], "atomic dipoles (lmp)")
    assert np.abs(one["dump4"][:, 1:4] - one["dump0"][:, 1:4]).max() > 0  # atoms moved: not a stale result


def nve_total_energy(plugin: Path, data: Path, model: Path, dt_ps: float, t_ps: float, boundary: str):
    """(time ps, total energy eV/atom, total charge e) every 2.5 fs of a velocity-Verlet NVE run from 300 K."""
    lmp = new_lammps(plugin)
    try:
        lmp.commands_string(setup_commands(data, model, ELEMENTS, boundary=boundary, pair_args=""))
        lmp.commands_string(
            f"""
            compute dip all densnet/atom
            thermo_style custom step time pe ke etotal c_dip[4]
            velocity all create 300.0 871 loop geom mom yes rot yes
            timestep {dt_ps}
            fix integrate all nve
            run 0
            """
        )
        every = round(0.0025 / dt_ps)
        rows = [(0.0, lmp.get_thermo("etotal"), lmp.get_thermo("c_dip[4]"))]
        for _ in range(round(t_ps / 0.0025)):
            lmp.command(f"run {every} pre no post no")
            rows.append((lmp.get_thermo("time"), lmp.get_thermo("etotal"), lmp.get_thermo("c_dip[4]")))
        natoms = lmp.get_natoms()
    finally:
        lmp.close()
    t, e, q = np.array(rows).T
    return t, e / natoms, q


def nve_report(t: np.ndarray, e: np.ndarray) -> tuple[float, float]:
    """(linear drift eV/atom/ps, rms deviation from the start eV/atom)."""
    return float(np.polyfit(t, e, 1)[0]), float(np.sqrt(np.mean((e - e[0]) ** 2)))


def test_nve_gas_ethanol_conserves_energy(plugin, densnet_model, tmp_path):
    """0.05 ps of ethanol NVE at 0.5 fs (CI-sized): drift below 1e-4 eV/atom/ps; the energy error of
    velocity Verlet shrinks ~4x when the step is halved (forces are the exact gradient of the energy)."""
    data = write_data(tmp_path / "ethanol.data", ethanol_gas(), ELEMENTS)
    rms = {}
    for dt in (0.0005, 0.00025):
        t, e, q = nve_total_energy(plugin, data, densnet_model.path, dt, 0.05, "f f f")
        drift, rms[dt] = nve_report(t, e)
        print(f"real densnet model, ethanol NVE dt={dt * 1000:.2f} fs, {t[-1]:.2f} ps: "
              f"drift {drift:.2e} eV/atom/ps, rms deviation {rms[dt]:.2e} eV/atom")
        assert np.abs(q).max() < 1e-10  # total charge conserved along MD
        if dt == 0.0005:
            assert abs(drift) < 1e-4
    assert rms[0.00025] < 0.5 * rms[0.0005]


def test_pair_coeff_metadata_mismatch_with_real_model(plugin, densnet_model, tmp_path):
    data = write_data(tmp_path / "ethanol.data", ethanol_gas(), ELEMENTS)
    lmp = new_lammps(plugin)
    try:
        with pytest.raises(Exception, match=r"element 'N' \(atom type 3\) is not in model") as info:
            lmp.commands_string(setup_commands(data, densnet_model.path, ["C", "H", "N"], boundary="f f f"))
        assert str(densnet_model.path) in str(info.value) and "H C O" in str(info.value).replace(",", "")
    finally:
        lmp.close()


@pytest.mark.slow
def test_nve_briefly_trained_model_drift(plugin, tmp_path):
    """A densnet model trained briefly on examples/ethanol/small.h5 (60 PBE frames), exported in float64:
    0.5 ps of gas-phase ethanol NVE at 0.5 fs drifts by less than 1e-4 eV/atom/ps. ~5 min."""
    import yaml

    from densnet.deploy.export import export_checkpoint

    data = Path(__file__).resolve().parents[2] / "examples" / "ethanol" / "small.h5"
    if not data.is_file():
        pytest.skip(f"{data} not there (examples/ethanol/make_data.sh)")
    cfg = {"data": str(data), "output": str(tmp_path / "run"), "batch_size": 4, "threads": 1, "seed": 0,
           "stages": {"density": {"epochs": 20}, "energy": {"epochs": 40}, "joint": {"epochs": 0}}}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(cfg))
    out = subprocess.run([str(VENV_PREFIX / "bin" / "densnet"), "train", str(tmp_path / "train.yaml"), "-q"],
                         capture_output=True, text=True, timeout=3000)
    assert out.returncode == 0, out.stderr[-3000:]
    model = export_checkpoint(tmp_path / "run" / "model.ckpt", tmp_path / "trained.pt", dtype="float64")
    assert model.level_of_theory.startswith("RKS")  # provenance from the dataset
    data_file = write_data(tmp_path / "ethanol.data", ethanol_gas(), ELEMENTS)
    t, e, q = nve_total_energy(plugin, data_file, tmp_path / "trained.pt", 0.0005, 0.5, "f f f")
    drift, rms = nve_report(t, e)
    print(f"briefly trained densnet model, ethanol NVE dt=0.50 fs, {t[-1]:.2f} ps: drift {drift:.2e} eV/atom/ps, "
          f"rms deviation {rms:.2e} eV/atom")
    assert abs(drift) < 1e-4 and np.abs(q).max() < 1e-10


def test_float32_export_through_cli_runs_in_lammps(plugin, densnet_model, tmp_path, capsys):
    """`densnet-export --dtype float32` writes a float32 file; LAMMPS (inputs and outputs in double) matches
    the float64 Python model to float32 precision."""
    from densnet.cli import export_main
    from densnet.deploy.metadata import read_metadata

    out = tmp_path / "tiny32.pt"
    assert export_main([str(densnet_model.checkpoint), "-o", str(out), "--dtype", "float32"]) == 0
    assert "wrote" in capsys.readouterr().out and read_metadata(out).dtype == "float32"
    atoms = ethanol_gas()
    data = write_data(tmp_path / "ethanol.data", atoms, ELEMENTS)
    res = lammps_run0(plugin, data, out, "f f f", "")
    ref = python_model(atoms, densnet_model)
    for key in ("energy", "forces", "charges", "atomic_dipoles", "dipole"):
        assert_matches(res[key], ref[key], f"float32 {key}", rtol=1e-4)
    assert np.abs(res["forces"] - ref["forces"]).max() > 0  # really a float32 evaluation


@pytest.mark.parametrize("mode", ["halo", "ghost"])
def test_mpi_with_a_rank_that_owns_no_atoms(plugin, densnet_model, tmp_path, mode):
    """2 ranks with all atoms in one rank's half of a periodic box (the other rank has no local atoms and no
    ghosts; it still takes part in the collective communications): same as 1 rank, at step 0 and after 4 MD
    steps."""
    atoms = ethanol_gas(box=30.0)
    atoms.positions += 6.0 - atoms.positions.mean(0)  # all within [4, 8] A: in the lower half along any axis
    atoms.pbc = True
    one, two = lmp_one_and_two_ranks(plugin, densnet_model.path, atoms, tmp_path,
                                     pair_args_2="" if mode == "halo" else "mode ghost")
    assert f"densnet: {mode} mode" in two["log"]
    assert np.abs(atoms.positions - 6.0).max() < 2.5
    for key in one:
        if key != "log":
            assert_matches(two[key], one[key], f"2 ranks vs 1 rank: {key}")
    ref = python_model(atoms, densnet_model)
    assert_matches(one["dump0"][:, 1:4], ref["forces"], "forces (lmp)")

"""pair_style densnet and compute densnet/atom inside LAMMPS against the Python reference evaluator.

Every number is compared with densnet.deploy.reference.evaluate() on the same structure and model
(float64): energies, per-atom energies, forces, virial, charges, atomic dipoles, total dipole.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from lammps_helpers import (
    ELEMENTS,
    VENV_PREFIX,
    assert_matches,
    by_id,
    clean_env,
    compute_by_id,
    ethanol_gas,
    lmp_one_and_two_ranks,
    new_lammps,
    run_zero,
    setup_commands,
    water_box,
    write_data,
)

from densnet.deploy.metadata import METADATA_FILE
from densnet.deploy.reference import evaluate, total_dipole
from densnet.deploy.toy import ToyModel

pytestmark = pytest.mark.lammps

def check_against_reference(res: dict[str, np.ndarray], atoms, toy_model) -> None:
    ref = evaluate(toy_model.module, atoms, toy_model.metadata)
    for key in ("energy", "atom_energy", "forces", "virial", "charges", "atomic_dipoles"):
        assert_matches(res[key], ref[key], key)
    # Total dipole uses unwrapped positions (image flags); total charge is conserved exactly.
    assert_matches(res["global"][:3], total_dipole(atoms, ref), "total dipole")
    assert abs(res["global"][3]) < 1e-12
    assert np.abs(ref["charges"]).max() > 1e-3 and np.abs(ref["forces"]).max() > 1e-3  # not vacuous


@pytest.mark.parametrize("mode", ["shift", "ghost"])
def test_gas_phase_ethanol_matches_reference(plugin, toy_model, tmp_path, mode):
    atoms = ethanol_gas()
    data = write_data(tmp_path / "ethanol.data", atoms, ELEMENTS)
    res = run_zero(plugin, data, toy_model.path, "f f f", f"mode {mode}")
    check_against_reference(res, atoms, toy_model)


@pytest.mark.parametrize("mode", ["shift", "ghost"])
def test_periodic_water_box_matches_reference(plugin, toy_model, tmp_path, mode):
    atoms = water_box(n_per_side=4)  # 64 molecules, 1 g/cm^3, some sticking out of the box
    assert len(atoms) == 192 and (atoms.get_scaled_positions(wrap=False) >= 1.0).any()
    data = write_data(tmp_path / "water.data", atoms, ELEMENTS)
    res = run_zero(plugin, data, toy_model.path, "p p p", f"mode {mode}")
    check_against_reference(res, atoms, toy_model)


def md_snapshot(plugin: Path, data: Path, model: Path, pair_args: str, steps: int) -> dict[str, np.ndarray]:
    lmp = new_lammps(plugin)
    try:
        lmp.commands_string(setup_commands(data, model, ELEMENTS, pair_args=pair_args))
        lmp.commands_string(
            f"""
            compute q all densnet/atom
            thermo_style custom step pe etotal c_q[1] c_q[2] c_q[3] c_q[4]
            velocity all create 600.0 4928 loop geom
            timestep 0.0005
            fix integrate all nve
            run {steps}
            """
        )
        import lammps

        return {
            "x": by_id(lmp, "x"),
            "f": by_id(lmp, "f"),
            "q": compute_by_id(lmp, "q"),
            "pe": np.array([lmp.get_thermo("pe")]),
            "mu": np.array(lmp.numpy.extract_compute("q", lammps.LMP_STYLE_GLOBAL, lammps.LMP_TYPE_VECTOR), copy=True),
        }
    finally:
        lmp.close()


def test_ghost_and_shift_modes_agree_along_md(plugin, toy_model, tmp_path):
    data = write_data(tmp_path / "water.data", water_box(n_per_side=4), ELEMENTS)
    shift = md_snapshot(plugin, data, toy_model.path, "mode shift", steps=8)
    ghost = md_snapshot(plugin, data, toy_model.path, "mode ghost", steps=8)
    for key in shift:
        assert_matches(ghost[key], shift[key], key)


def nve_energies(plugin: Path, data: Path, model: Path, dt_ps: float, t_ps: float) -> dict[str, np.ndarray]:
    """Total energy (eV) every 5 fs of an NVE run at 300 K; also moved distance and total charge."""
    lmp = new_lammps(plugin)
    try:
        lmp.commands_string(setup_commands(data, model, ELEMENTS))
        lmp.commands_string(
            f"""
            compute q all densnet/atom
            thermo_style custom step time pe ke etotal c_q[4]
            velocity all create 300.0 871 loop geom
            timestep {dt_ps}
            fix integrate all nve
            run 0
            """
        )
        x0 = by_id(lmp, "x")
        every = round(0.005 / dt_ps)
        rows = [(0.0, lmp.get_thermo("etotal"), lmp.get_thermo("c_q[4]"))]
        for _ in range(round(t_ps / 0.005)):
            lmp.command(f"run {every} pre no post no")
            rows.append((lmp.get_thermo("time"), lmp.get_thermo("etotal"), lmp.get_thermo("c_q[4]")))
        moved = np.abs(by_id(lmp, "x") - x0).max()
        natoms = lmp.get_natoms()
    finally:
        lmp.close()
    t, e, q = np.array(rows).T
    return {"t": t, "e": e / natoms, "q": q, "moved": moved}


def test_nve_conserves_energy(plugin, toy_model, tmp_path):
    """Velocity Verlet, 8 periodic waters at 300 K, 0.25 ps with 0.5 fs and 0.25 fs steps.

    Forces that are the exact gradient of the energy give an energy error that shrinks ~4x when the
    step is halved; missing or wrong force terms (e.g. ghost forces) give an error that does not.
    """
    data = write_data(tmp_path / "water8.data", water_box(n_per_side=2), ELEMENTS)
    runs = {dt: nve_energies(plugin, data, toy_model.path, dt, 0.25) for dt in (0.0005, 0.00025)}
    report = {}
    for dt, r in runs.items():
        drift = np.polyfit(r["t"], r["e"], 1)[0]  # eV/atom/ps
        rms = np.sqrt(np.mean((r["e"] - r["e"][0]) ** 2))  # eV/atom
        report[dt] = (drift, rms)
        print(f"NVE dt={dt * 1000:.2f} fs: drift {drift:.2e} eV/atom/ps, rms deviation {rms:.2e} eV/atom")
        assert r["moved"] > 0.05  # atoms really moved (A)
        assert np.abs(r["q"]).max() < 1e-12  # total charge conserved exactly along MD
    drift, rms = report[0.0005]
    # 3/2 kT at 300 K = 0.039 eV/atom: the energy error stays below 1% of it, without a trend.
    assert abs(drift) < 1e-3 and rms < 1e-2 * 0.039
    assert report[0.00025][1] < 0.5 * rms


def test_plugin_load_and_plugin_path_with_lmp_executable(plugin, tmp_path):
    lmp = VENV_PREFIX / "bin" / "lmp"
    if not lmp.is_file():
        pytest.skip("no lmp executable in the environment")
    script = tmp_path / "in.list"
    script.write_text(f"plugin load {plugin}\nplugin list\n")
    out = subprocess.run(
        [str(lmp), "-in", str(script), "-nocite", "-log", "none"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "pair style plugin densnet" in out.stdout and "compute style plugin densnet/atom" in out.stdout
    assert "WARNING" not in out.stdout  # e.g. a plugin/LAMMPS version mismatch
    script.write_text("plugin list\n")
    env = clean_env() | {"LAMMPS_PLUGIN_PATH": str(plugin.parent)}
    out = subprocess.run(
        [str(lmp), "-in", str(script), "-nocite", "-log", "none"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "pair style plugin densnet" in out.stdout, out.stdout + out.stderr


def test_mpi_two_ranks_match_one_rank_and_reference(plugin, toy_model, tmp_path):
    atoms = water_box(n_per_side=4)
    one, two = lmp_one_and_two_ranks(plugin, toy_model.path, atoms, tmp_path, temperature=600.0, steps=5)
    for key in one:
        if key != "log":
            assert_matches(two[key], one[key], f"2 ranks vs 1 rank: {key}")
    # Step 0 of the lmp executable (1 rank, shift mode) against the Python reference.
    ref = evaluate(toy_model.module, atoms, toy_model.metadata)
    assert_matches(one["thermo0"][:1], ref["energy"], "energy (lmp executable)")
    assert_matches(one["thermo0"][1:4], total_dipole(atoms, ref), "total dipole (lmp executable)")
    assert_matches(one["dump0"][:, 1:4], ref["forces"], "forces (lmp executable)")
    assert_matches(one["dump0"][:, 4], ref["charges"], "charges (lmp executable)")
    assert_matches(one["dump0"][:, 5:8], ref["atomic_dipoles"], "atomic dipoles (lmp executable)")
    assert np.array_equal(one["dump0"][:, 0], np.arange(1, len(atoms) + 1))


# ---------------------------------------------------------------------------------------------
# Clear errors instead of crashes


def foreign_model(path: Path) -> Path:
    torch.jit.save(torch.jit.script(torch.nn.Linear(3, 1)), str(path))
    return path


def corrupt_model(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(1).bytes(20000))
    return path


def future_model(path: Path, toy_model) -> Path:
    data = json.loads(toy_model.metadata.to_json()) | {"format_version": 99}
    torch.jit.save(torch.jit.script(ToyModel(ELEMENTS)), str(path), _extra_files={METADATA_FILE: json.dumps(data)})
    return path


ERROR_CASES = {
    "wrong units": ("units real", None, ELEMENTS, "requires 'units metal'"),
    "newton off": ("newton off", None, ELEMENTS, "requires 'newton on'"),
    "element not in model": ("", None, ["C", "H", "N"], r"element 'N' \(atom type 3\) is not in model"),
    "too few elements": ("", None, ["C", "H"], r"got 2 element symbol\(s\) .* 3 atom type\(s\)"),
    "missing file": ("", "missing", ELEMENTS, "cannot open model file"),
    "corrupt file": ("", "corrupt", ELEMENTS, "is not a readable TorchScript model file"),
    "foreign TorchScript": ("", "foreign", ELEMENTS, "no metadata.json inside: this is not a densnet model"),
    "unknown format version": ("", "future", ELEMENTS, "format_version is 99, this plugin reads version 1"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_clear_errors(plugin, toy_model, tmp_path, case):
    pre, model_kind, elements, message = ERROR_CASES[case]
    model = {
        None: lambda: toy_model.path,
        "missing": lambda: tmp_path / "does-not-exist.pt",
        "corrupt": lambda: corrupt_model(tmp_path / "corrupt.pt"),
        "foreign": lambda: foreign_model(tmp_path / "foreign.pt"),
        "future": lambda: future_model(tmp_path / "future.pt", toy_model),
    }[model_kind]()
    data = write_data(tmp_path / "ethanol.data", ethanol_gas(), ELEMENTS)
    lines = setup_commands(data, model, elements, boundary="f f f").splitlines()
    if pre.startswith("units"):
        lines[0] = pre
    elif pre:
        lines.insert(0, pre)
    lmp = new_lammps(plugin)
    try:
        with pytest.raises(Exception, match=message) as info:
            for line in [*lines, "run 0"]:
                lmp.command(line)
        if model_kind not in (None, "missing"):
            assert str(model) in str(info.value)  # the message names the file
    finally:
        lmp.close()


@pytest.mark.parametrize("mode", ["shift", "ghost"])
def test_atoms_too_close_stop_the_run(plugin, toy_model, tmp_path, mode):
    """Two atoms 0.3 A apart (an MD blow-up) stop the run with their IDs; min_distance 0 lets it through."""
    atoms = ethanol_gas()
    atoms.positions[8] = atoms.positions[0] + [0.3, 0.0, 0.0]
    data = write_data(tmp_path / "close.data", atoms, ELEMENTS)
    lmp = new_lammps(plugin)
    try:
        with pytest.raises(Exception, match=r"atoms 1 and 9 are 0\.300 A apart at step 0 \(closer than min_distance"):
            lmp.commands_string(setup_commands(data, toy_model.path, ELEMENTS, boundary="f f f",
                                               pair_args=f"mode {mode}") + "\nrun 0")
    finally:
        lmp.close()
    res = run_zero(plugin, data, toy_model.path, "f f f", f"mode {mode} min_distance 0")
    assert np.isfinite(res["energy"]).all()


@pytest.mark.parametrize("pair_args, message", [
    ("recompute yes", "recompute yes needs halo mode"),
    ("mode halo", "was exported without the halo-mode methods"),
    ("min_distance -1", "min_distance must be >= 0"),
    ("memory lots", "memory must be keep or release, not 'lots'"),
    ("speed fast", "unknown keyword 'speed'"),
])
def test_clear_errors_of_pair_style_keywords(plugin, toy_model, tmp_path, pair_args, message):
    """Keyword misuse is refused by name (the toy model file has no halo-mode methods)."""
    data = write_data(tmp_path / "ethanol.data", ethanol_gas(), ELEMENTS)
    lmp = new_lammps(plugin)
    try:
        with pytest.raises(Exception, match=message):
            lmp.commands_string(setup_commands(data, toy_model.path, ELEMENTS, boundary="f f f",
                                               pair_args=pair_args) + "\nrun 0")
    finally:
        lmp.close()

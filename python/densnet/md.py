"""Molecular dynamics with a densnet model through ASE: Langevin equilibration, then NVE (or Langevin)
production; writes the dipole at every production step, energies, a strided trajectory; restartable.

Output directory (units fs, eV, e*A):
  dipole.dat      ``time_fs mu_x mu_y mu_z`` every production step (input of ``densnet ir``)
  energies.dat    ``time_fs epot ekin etot temperature_K`` every ``energy_stride`` steps, both phases
                  (equilibration at negative times)
  traj.extxyz     (or .traj) every ``stride`` production steps
  checkpoint.npz  positions, momenta, step, phase, RNG state, output file sizes; written every
                  ``checkpoint_every`` steps. Re-running the same command continues from it; the files are
                  cut back to the checkpoint, so a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms, units

from .errors import DensnetError

_TIME_UNITS = {"fs": 1.0, "ps": 1000.0, "ns": 1e6}


def parse_time(value: str | float) -> float:
    """'5ps', '0.5fs', '2 ns' or a bare number (fs) -> fs."""
    if isinstance(value, int | float):
        return float(value)
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(fs|ps|ns)?\s*", str(value))
    if not m:
        raise DensnetError(f"cannot read time {value!r} (use e.g. 0.5fs, 5ps, 1ns or a number in fs)")
    return float(m.group(1)) * _TIME_UNITS[m.group(2) or "fs"]


@dataclass(frozen=True)
class MDSettings:
    """Times in fs, temperature in K, friction in 1/fs."""

    temperature: float
    equilibrate: float
    production: float
    timestep: float = 0.5
    friction: float = 0.01
    thermostat: str = "none"        # production: none (NVE) or langevin
    stride: int = 10                # production steps between trajectory frames
    energy_stride: int = 10
    checkpoint_every: int = 1000    # steps
    seed: int = 0
    remove_rotation: bool = False   # zero total momentum and angular momentum before production
    trajectory: str = "traj.extxyz"

    def n_steps(self) -> tuple[int, int]:
        return int(round(self.equilibrate / self.timestep)), int(round(self.production / self.timestep))


class _Outputs:
    """Append-only text outputs that can be cut back to a recorded size after a restart."""

    def __init__(self, directory: Path, names: list[str]) -> None:
        self.paths = {n: directory / n for n in names}
        self.files = {}

    def open(self, sizes: dict[str, int] | None) -> None:
        for n, p in self.paths.items():
            if sizes is not None and p.exists():
                with p.open("r+b") as f:
                    f.truncate(sizes.get(n, 0))
            elif sizes is None:
                p.write_text("")
            self.files[n] = p.open("a")

    def sizes(self) -> dict[str, int]:
        for f in self.files.values():
            f.flush()
        return {n: p.stat().st_size for n, p in self.paths.items()}

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def remove_rigid_motion(atoms: Atoms) -> float:
    """Zero the total momentum and the angular momentum about the centre of mass, leaving the internal
    velocities as they are; returns the kinetic energy removed (eV).

    Not ASE's default ``preserve_temperature=True``: that rescales the remaining velocities to the old kinetic
    energy, i.e. pours the rigid-body energy into the vibrations (x3 on average for water: 9 -> 3 degrees of
    freedom), which heats a --remove-rotation run above its temperature.
    """
    from ase.md.velocitydistribution import Stationary, ZeroRotation

    ekin = atoms.get_kinetic_energy()
    Stationary(atoms, preserve_temperature=False)
    ZeroRotation(atoms, preserve_temperature=False)
    return ekin - atoms.get_kinetic_energy()


def _write_checkpoint(path: Path, atoms: Atoms, step: int, rng: np.random.Generator, sizes: dict,
                      n_frames: int, settings: MDSettings) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, positions=atoms.positions, momenta=atoms.get_momenta(), step=step,
             rng=json.dumps(rng.bit_generator.state), sizes=json.dumps(sizes), n_frames=n_frames,
             settings=json.dumps(asdict(settings)))
    tmp.replace(path)


def _truncate_traj(path: Path, n_frames: int) -> None:
    """Keep the first ``n_frames`` of an ASE .traj file (extxyz is cut by size instead)."""
    from ase.io import Trajectory

    if not path.exists():
        return
    frames = list(Trajectory(str(path)))[:n_frames]
    with Trajectory(str(path), "w") as t:
        for a in frames:
            t.write(a)


def run(calc, atoms: Atoms, out: str | Path, s: MDSettings, progress: bool = True,
        stop_after: int | None = None) -> dict:
    """Run (or continue) the MD in ``out``. ``stop_after``: stop after that many steps of this call (tests).

    Returns a summary dict (steps done, mean production temperature, energy drift in eV/atom).
    """
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_eq, n_prod = s.n_steps()
    if n_prod < 1:
        raise DensnetError("production run shorter than one time step")
    ckpt = out / "checkpoint.npz"
    traj_path = out / s.trajectory
    text = ["dipole.dat", "energies.dat"] + ([s.trajectory] if s.trajectory.endswith((".xyz", ".extxyz")) else [])
    outputs = _Outputs(out, text)
    atoms = atoms.copy()
    atoms.calc = calc
    rng = np.random.default_rng(s.seed)
    step, n_frames = 0, 0
    if ckpt.exists():
        c = np.load(ckpt)
        saved = json.loads(str(c["settings"]))
        if saved != asdict(s):
            diff = {k: (saved.get(k), v) for k, v in asdict(s).items() if saved.get(k) != v}
            raise DensnetError(f"{out} holds a run with other settings {diff}; use another -o directory")
        if len(c["positions"]) != len(atoms):
            raise DensnetError(f"{ckpt}: {len(c['positions'])} atoms, start structure has {len(atoms)}")
        atoms.positions = c["positions"]
        atoms.set_momenta(c["momenta"])
        step, n_frames = int(c["step"]), int(c["n_frames"])
        rng.bit_generator.state = json.loads(str(c["rng"]))
        outputs.open(json.loads(str(c["sizes"])))
        if not s.trajectory.endswith((".xyz", ".extxyz")):
            _truncate_traj(traj_path, n_frames)
    else:
        thermalize_momenta(atoms, temperature_K=s.temperature, rng=rng)
        Stationary(atoms)
        outputs.open(None)
        if not s.trajectory.endswith((".xyz", ".extxyz")) and traj_path.exists():
            traj_path.unlink()
        f = outputs.files
        f["dipole.dat"].write(f"# densnet md: dipole (e*A) every step of the production run\n"
                              f"# temperature_K {s.temperature:g}\n# timestep_fs {s.timestep:g}\n"
                              "# time_fs mu_x mu_y mu_z\n")
        f["energies.dat"].write("# time_fs epot_eV ekin_eV etot_eV temperature_K\n")
        _write_checkpoint(ckpt, atoms, 0, rng, outputs.sizes(), 0, s)
    total = n_eq + n_prod
    if step >= total:
        outputs.close()
        return {"steps": step, "done": True}
    dt = s.timestep * units.fs

    def make_dyn(production: bool):
        if production and s.thermostat == "none":
            return VelocityVerlet(atoms, dt)
        return Langevin(atoms, dt, temperature_K=s.temperature, friction=s.friction / units.fs, fixcm=False,
                        rng=rng)

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, unit="step", desc="md", smoothing=0.05)
    traj_writer = None
    done_now = 0
    temps, etot = [], []
    try:
        while step < total:
            production = step >= n_eq
            if production and step == n_eq and s.remove_rotation:
                remove_rigid_motion(atoms)
            dyn = make_dyn(production)
            phase_end = total if production else n_eq
            while step < phase_end:
                dyn.run(1)
                step += 1
                done_now += 1
                t = (step - n_eq) * s.timestep
                if step % s.energy_stride == 0:
                    epot, ekin = atoms.get_potential_energy(), atoms.get_kinetic_energy()
                    if not np.isfinite(epot + ekin):
                        raise DensnetError(f"non-finite energy at step {step}: the run exploded "
                                           "(smaller --timestep?)")
                    temp = atoms.get_temperature()
                    outputs.files["energies.dat"].write(
                        f"{t:.4f} {epot:.10f} {ekin:.10f} {epot + ekin:.10f} {temp:.3f}\n")
                    if production:
                        temps.append(temp)
                        etot.append(epot + ekin)
                if production:
                    mu = atoms.get_dipole_moment()
                    outputs.files["dipole.dat"].write(f"{t:.4f} {mu[0]:.12e} {mu[1]:.12e} {mu[2]:.12e}\n")
                    if (step - n_eq) % s.stride == 0:
                        n_frames += 1
                        traj_writer = _write_frame(atoms, traj_path, outputs, traj_writer, t)
                if step % s.checkpoint_every == 0 or step == total:
                    if traj_writer is not None and hasattr(traj_writer, "close"):
                        traj_writer.close()
                        traj_writer = None
                    _write_checkpoint(ckpt, atoms, step, rng, outputs.sizes(), n_frames, s)
                if bar is not None:
                    bar.update(1)
                if stop_after is not None and done_now >= stop_after:
                    return {"steps": step, "done": False}
    finally:
        if bar is not None:
            bar.close()
        if traj_writer is not None and hasattr(traj_writer, "close"):
            traj_writer.close()
        outputs.close()
    natoms = len(atoms)
    return {"steps": step, "done": True, "mean_temperature_K": float(np.mean(temps)) if temps else None,
            "energy_drift_eV_per_atom": float((etot[-1] - etot[0]) / natoms) if len(etot) > 1 else None}


def _write_frame(atoms: Atoms, path: Path, outputs: _Outputs, writer, t: float):
    """Append one frame (time in fs in ``info``); returns the open .traj writer (None for extxyz)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    a = atoms.copy()
    a.calc = SinglePointCalculator(a, energy=atoms.get_potential_energy(), forces=atoms.get_forces(),
                                   dipole=atoms.get_dipole_moment())
    a.info["time_fs"] = t
    if path.name in outputs.files:
        from ase.io import write

        write(outputs.files[path.name], a, format="extxyz")
        return None
    if writer is None:
        from ase.io import Trajectory

        writer = Trajectory(str(path), "a")
    writer.write(a)
    return writer


def command(model: str, structure: str, out: str, temperature: float, equilibrate: str, production: str,
            timestep: str, thermostat: str = "none", friction: float = 0.01, stride: int = 10,
            energy_stride: int = 10, checkpoint_every: int = 1000, seed: int = 0, remove_rotation: bool = False,
            trajectory: str = "traj.extxyz", progress: bool = True) -> dict:
    """``densnet md``: load the model and the first frame of ``structure``, run or continue in ``out``."""
    import ase.io

    from . import load
    from .calculator import DenSNetCalculator

    if not Path(structure).is_file():
        raise DensnetError(f"{structure}: no such file")
    if thermostat not in ("none", "langevin"):
        raise DensnetError(f"unknown production thermostat {thermostat!r} (none, langevin)")
    if not trajectory.endswith((".xyz", ".extxyz", ".traj")):
        raise DensnetError(f"trajectory {trajectory!r}: use a .extxyz or .traj name")
    s = MDSettings(float(temperature), parse_time(equilibrate), parse_time(production), parse_time(timestep),
                   friction, thermostat, stride, energy_stride, checkpoint_every, seed, remove_rotation, trajectory)
    atoms = ase.io.read(structure, index=0)
    summary = run(DenSNetCalculator(load(model)), atoms, out, s, progress=progress)
    return summary

"""Stability of MD runs: every bond of the start kept, no new bond, no atoms too close, total energy conserved.

``densnet check-md TRAJ [--energies FILE]`` reads a trajectory (extxyz / ASE traj from ``densnet md``, or a
LAMMPS text dump with ``--elements``) and optionally the energies of an NVE run (``densnet md``'s
energies.dat, or a LAMMPS log with ``TotEng`` in its thermo output). Exit status 1 when a check fails.
Units: A, eV, fs; drift in eV per atom per ps.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from .errors import DensnetError
from .neighbors import MIN_DISTANCE  # closer atoms mean a collapse, whatever the bonds say
from .sample import bond_graph, bond_graphs

#: Pairs are searched within this distance (A) for the reported minimum distance: every X-H bond is shorter, so
#: a molecule always has a pair in range; None (printed as "> 2 A") only for systems with no pair that close.
MIN_DISTANCE_SHELL = 2.0
RESUMED = "densnet: production resumed at step"  # printed to log.lammps by densnet lammps md when it resumes


@dataclass
class EnergyReport:
    """Total energy of the NVE part: n points, duration (ps), linear drift and largest deviation per atom, and
    how many distinct values the file holds (few: printed with too few digits; the smallest step between them,
    eV, then bounds what the drift can resolve)."""

    n_points: int
    duration_ps: float
    drift_eV_per_atom_per_ps: float
    max_deviation_eV_per_atom: float
    distinct_values: int = 0
    smallest_step_eV: float | None = None

    @property
    def quantised(self) -> bool:
        """Fewer distinct values than half the points: the file's digits, not the dynamics, set the values."""
        return self.distinct_values < self.n_points / 2


@dataclass
class StabilityReport:
    trajectory: str | None
    n_frames: int = 0
    n_atoms: int = 0
    first_bad_frame: int | None = None  # index of the first frame with a broken/formed bond or a collapse
    broken: list[tuple[int, int]] = field(default_factory=list)  # reference bonds stretched beyond 1.5x radii
    formed: list[tuple[int, int]] = field(default_factory=list)  # new pairs closer than 1.0x radii
    min_distance: float | None = None  # A, over all frames
    energy: EnergyReport | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def read_trajectory(path: str | Path, elements: list[str] | None = None) -> list[Atoms]:
    """All frames of an ASE-readable trajectory; LAMMPS text dumps need ``elements`` (one per LAMMPS type)."""
    import ase.io

    path = Path(path)
    if not path.is_file():
        raise DensnetError(f"{path}: no such file")
    with path.open() as fh:
        is_dump = fh.readline().startswith("ITEM: TIMESTEP")
    try:
        if is_dump:
            if not elements:
                raise DensnetError(f"{path}: a LAMMPS dump: give --elements (the element of each LAMMPS type)")
            frames = ase.io.read(path, ":", format="lammps-dump-text", specorder=list(elements), units="metal")
        else:
            frames = ase.io.read(path, ":")
    except DensnetError:
        raise
    except Exception as exc:  # noqa: BLE001 - ASE raises many types for unreadable files
        raise DensnetError(f"{path}: cannot read a trajectory ({exc})") from None
    if isinstance(frames, Atoms):
        frames = [frames]
    if not frames:
        raise DensnetError(f"{path}: no frames")
    return frames


def check_bonds(frames: list[Atoms], reference: Atoms | None = None, scale: float = 1.2) -> StabilityReport:
    """Bond graph of ``reference`` (default: the first frame; bonds = distance < scale x covalent radii) kept in
    every frame: no reference bond beyond 1.5x radii, no new pair within 1.0x radii, no pair below 0.5 A."""
    ref = reference if reference is not None else frames[0]
    if len(ref) != len(frames[0]) or list(ref.numbers) != list(frames[0].numbers):
        raise DensnetError(f"reference structure ({ref.get_chemical_formula()}) does not match the trajectory "
                           f"({frames[0].get_chemical_formula()}, same atom order needed)")
    ref_bonds = bond_graph(ref, scale)
    rep = StabilityReport(trajectory=None, n_frames=len(frames), n_atoms=len(ref))
    dmin = np.inf
    for k, atoms in enumerate(frames):
        (loose, tight), d = bond_graphs(atoms, [1.5, 1.0], MIN_DISTANCE_SHELL)
        if len(d):
            dmin = min(dmin, float(d.min()))
        broken, formed = sorted(ref_bonds - loose), sorted(tight - ref_bonds)
        collapsed = len(d) and d.min() < MIN_DISTANCE
        if (broken or formed or collapsed) and rep.first_bad_frame is None:
            rep.first_bad_frame, rep.broken, rep.formed = k, broken, formed
            what = [f"bond {i}-{j} ({atoms[i].symbol}-{atoms[j].symbol}) broken" for i, j in broken[:3]]
            what += [f"new bond {i}-{j} ({atoms[i].symbol}-{atoms[j].symbol})" for i, j in formed[:3]]
            if collapsed:
                what.append(f"atoms {d.min():.2f} A apart")
            rep.problems.append(f"frame {k}: " + ", ".join(what))
    rep.min_distance = None if dmin == np.inf else dmin
    return rep


def _add_block(blocks: list, cols: list[str], data: np.ndarray, continues: bool) -> None:
    """Append a thermo block, or join it to the previous one (same columns) when it continues a resumed run:
    the previous block's rows from the resumed step on were run again, so they are dropped."""
    if continues and blocks and blocks[-1][0] == cols and "Step" in cols:
        k = cols.index("Step")
        prev = blocks[-1][1]
        blocks[-1] = (cols, np.vstack([prev[prev[:, k] < data[0, k]], data]))
    else:
        blocks.append((cols, data))


def read_energies(path: str | Path, timestep_fs: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(time fs, total energy eV) of the production/NVE part of an MD run.

    ``densnet md`` energies.dat (``# time_fs epot_eV ekin_eV etot_eV temperature_K``; production = time > 0), or
    a LAMMPS log (units metal): the last thermo block with a ``TotEng`` column, time from ``Time`` (ps) or from
    ``Step`` x ``timestep_fs``. A block after a ``densnet: production resumed at step`` line (a run continued by
    ``densnet lammps md`` from a restart file, appended to the log) continues the block before it.
    """
    path = Path(path)
    if not path.is_file():
        raise DensnetError(f"{path}: no such file")
    lines = path.read_text().splitlines()
    if lines and lines[0].startswith("# time_fs"):
        data = np.loadtxt(path, comments="#", ndmin=2)
        if data.size == 0 or data.shape[1] < 4:
            raise DensnetError(f"{path}: expected columns time_fs epot_eV ekin_eV etot_eV")
        data = data[data[:, 0] > 0]
        return data[:, 0], data[:, 3]
    blocks, cols, rows = [], None, []
    resumed, continues = False, False
    for line in lines:
        words = line.split()
        if line.startswith(RESUMED):
            resumed = True
        elif words and words[0] == "Step" and "TotEng" in words:
            if cols is not None and rows:
                _add_block(blocks, cols, np.array(rows), continues)
            cols, rows, continues, resumed = words, [], resumed, False
        elif cols is not None:
            try:
                vals = [float(w) for w in words]
            except ValueError:
                vals = []
            if len(vals) == len(cols):
                rows.append(vals)
            else:
                if rows:
                    _add_block(blocks, cols, np.array(rows), continues)
                cols, rows = None, []
    if cols is not None and rows:
        _add_block(blocks, cols, np.array(rows), continues)
    if not blocks:
        raise DensnetError(f"{path}: neither densnet md energies.dat nor a LAMMPS log with TotEng in the thermo output")
    cols, data = blocks[-1]
    if "Time" in cols:
        t = data[:, cols.index("Time")] * 1000.0
    elif timestep_fs:
        t = data[:, cols.index("Step")] * timestep_fs
    else:
        raise DensnetError(f"{path}: thermo output has no Time column: give --timestep (fs)")
    return t, data[:, cols.index("TotEng")]


def energy_report(t_fs: np.ndarray, etot: np.ndarray, n_atoms: int) -> EnergyReport:
    """Linear drift (eV/atom/ps) and largest |E(t) - E(0)| (eV/atom) of a total-energy series."""
    if len(t_fs) < 3:
        raise DensnetError("fewer than 3 energy points: nothing to check")
    if not np.all(np.isfinite(etot)):
        return EnergyReport(len(t_fs), float(t_fs[-1] - t_fs[0]) / 1000, float("inf"), float("inf"))
    e = etot / n_atoms
    slope = np.polyfit(t_fs / 1000.0, e, 1)[0]
    values = np.unique(etot)
    step = float(np.diff(values).min()) if len(values) > 1 else None
    return EnergyReport(len(t_fs), float(t_fs[-1] - t_fs[0]) / 1000, float(slope), float(np.abs(e - e[0]).max()),
                        len(values), step)


def check(trajectory: str | None, energies: str | None = None, elements: list[str] | None = None,
          reference: str | None = None, scale: float = 1.2, timestep_fs: float | None = None,
          max_drift: float = 1e-3, max_deviation: float = 0.02, n_atoms: int | None = None) -> StabilityReport:
    """All checks of one run. ``max_drift`` eV/atom/ps and ``max_deviation`` eV/atom bound the NVE energy."""
    import ase.io

    if trajectory is None and energies is None:
        raise DensnetError("nothing to check: give a trajectory and/or --energies")
    rep = StabilityReport(trajectory=trajectory)
    if trajectory is not None:
        frames = read_trajectory(trajectory, elements)
        ref = ase.io.read(reference) if reference else None
        rep = check_bonds(frames, ref, scale)
        rep.trajectory = trajectory
        n_atoms = len(frames[0])
    if energies is not None:
        if n_atoms is None:
            raise DensnetError("--energies without a trajectory: give --atoms (number of atoms)")
        rep.n_atoms = n_atoms
        rep.energy = energy_report(*read_energies(energies, timestep_fs), n_atoms)
        if not abs(rep.energy.drift_eV_per_atom_per_ps) <= max_drift:
            rep.problems.append(f"{energies}: energy drift {rep.energy.drift_eV_per_atom_per_ps:.2e} eV/atom/ps "
                                f"(limit {max_drift:g})")
        en = rep.energy
        if en.quantised and en.smallest_step_eV is not None and en.duration_ps > 0:
            bound = en.smallest_step_eV / n_atoms / en.duration_ps
            if bound > max_drift:
                rep.problems.append(f"{energies}: total energy printed with too few digits ({en.distinct_values} "
                                    f"distinct values, steps of {en.smallest_step_eV:.2g} eV) to resolve the drift "
                                    f"limit {max_drift:g} eV/atom/ps (print it with 'thermo_modify format float "
                                    "%.12g')")
        if not rep.energy.max_deviation_eV_per_atom <= max_deviation:
            rep.problems.append(f"{energies}: total energy strays {rep.energy.max_deviation_eV_per_atom:.3g} "
                                f"eV/atom from its start (limit {max_deviation:g})")
    return rep


def report_text(r: StabilityReport) -> str:
    """One 'OK'/'FAIL' line per run (frames, atoms, closest pair, energy drift), then one line per problem."""
    parts = [r.trajectory or "-"]
    if r.trajectory:
        dmin = f"{r.min_distance:.3f}" if r.min_distance is not None else f"> {MIN_DISTANCE_SHELL:g}"
        parts.append(f"{r.n_frames} frames, {r.n_atoms} atoms, min distance {dmin} A")
    if r.energy:
        parts.append(f"{r.energy.duration_ps:.3g} ps, drift {r.energy.drift_eV_per_atom_per_ps:.2e} eV/atom/ps, "
                     f"max |dE| {r.energy.max_deviation_eV_per_atom:.2e} eV/atom")
        if r.energy.quantised:
            step = r.energy.smallest_step_eV
            parts.append(f"energy printed with few digits: {r.energy.distinct_values} distinct values in "
                         f"{r.energy.n_points} points" + (f" (steps of {step:.2g} eV)" if step else ""))
    return "\n".join([("OK    " if r.ok else "FAIL  ") + "; ".join(parts), *(f"      {p}" for p in r.problems)])


def write_reports(reports: list[StabilityReport], path: str | Path) -> None:
    """The reports as a JSON list (each with its ``ok``): what ``--json`` writes."""
    Path(path).write_text(json.dumps([{**asdict(r), "ok": r.ok} for r in reports], indent=1))


def command(trajectories: list[str], energies: list[str] | None, elements: list[str] | None,
            reference: str | None, scale: float, timestep_fs: float | None, max_drift: float, max_deviation: float,
            n_atoms: int | None, json_path: str | None) -> int:
    """``densnet check-md``: one line per run, exit status 1 if any run fails a check."""
    energies = energies or []
    runs: list[tuple[str | None, str | None]]
    if trajectories and energies and len(energies) != len(trajectories):
        raise DensnetError(f"{len(trajectories)} trajectories but {len(energies)} --energies files: give one "
                           "energies file per trajectory, in the same order")
    runs = list(zip(trajectories, energies, strict=True)) if trajectories and energies else (
        [(t, None) for t in trajectories] or [(None, e) for e in energies])
    reports = [check(t, e, elements, reference, scale, timestep_fs, max_drift, max_deviation, n_atoms)
               for t, e in runs]
    for r in reports:
        print(report_text(r))
    if json_path:
        write_reports(reports, json_path)
    return 0 if all(r.ok for r in reports) else 1

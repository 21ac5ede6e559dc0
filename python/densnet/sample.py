"""``densnet sample``: thermal geometries from a cheap method (GFN2-xTB MD or normal-mode sampling), or
close-contact frames (a terminal atom pushed towards its partner; for the train split, against holes).

Frames carry ``info['traj']`` (independent trajectory id, used to split data without correlated frames
straddling splits), ``info['time_fs']`` and ``info['source']``. Thermal frames are checked to keep the bond
graph of their starting structure (no fragments, no new bonds).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
from ase import Atoms, units

from .errors import DensnetError


def pair_distances(atoms: Atoms, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs i < j closer than ``cutoff`` (A), with their distances (A): (i [P], j [P], d [P]); vesin, periodic
    images included where ``atoms.pbc`` says so."""
    from .neighbors import neighbor_graph

    pos = atoms.positions
    edges, shift = neighbor_graph(pos, cutoff, atoms.cell.array, atoms.pbc)
    d = np.linalg.norm(pos[edges[1]] - pos[edges[0]] + shift, axis=1)
    half = edges[0] < edges[1]
    return edges[0][half], edges[1][half], d[half]


def bond_graphs(atoms: Atoms, scales: list[float], min_cutoff: float = 0.0
                ) -> tuple[list[set[tuple[int, int]]], np.ndarray]:
    """Bonded pairs (i < j) for each scale (distance below scale x sum of ASE's natural covalent radii) from one
    neighbour list, and the distances (A) of all pairs within max(largest bond cutoff, ``min_cutoff``)."""
    from ase.neighborlist import natural_cutoffs

    radii = np.asarray(natural_cutoffs(atoms), float)
    i, j, d = pair_distances(atoms, max(2 * max(scales) * radii.max(), min_cutoff))
    reach = radii[i] + radii[j]
    graphs = []
    for s in scales:
        bonded = d < s * reach
        graphs.append(set(zip(i[bonded].tolist(), j[bonded].tolist(), strict=True)))
    return graphs, d


def bond_graph(atoms: Atoms, scale: float = 1.2) -> set[tuple[int, int]]:
    """Bonded pairs (i < j): distance below ``scale`` x sum of ASE's natural covalent radii."""
    return bond_graphs(atoms, [scale])[0][0]


def same_bonds(ref: set[tuple[int, int]], atoms: Atoms) -> bool:
    """True when no reference bond stretched beyond 1.5x radii and no new bond (< 1.0x radii) formed."""
    (loose, tight), _ = bond_graphs(atoms, [1.5, 1.0])
    return ref <= loose and tight <= ref


def xtb_calculator():
    try:
        from tblite.ase import TBLite
    except ImportError:
        raise DensnetError("GFN2-xTB sampling needs tblite: pip install 'densnet[sample]'") from None
    return TBLite(method="GFN2-xTB", verbosity=0)


def _thermalize(atoms: Atoms, temperature: float, rng: np.random.Generator) -> None:
    """Maxwell-Boltzmann momenta at ``temperature`` K (ASE >= 3.29 name, older fallback)."""
    from ase.md import velocitydistribution as vd

    if hasattr(vd, "thermalize_momenta"):
        vd.thermalize_momenta(atoms, temperature, rng=rng)
    else:
        vd.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)


def sample_md(starts: list[Atoms], n_frames: int, temperature: float, n_traj: int, seed: int,
              timestep_fs: float = 0.5, equilibrate_fs: float = 1000.0, stride_fs: float = 50.0,
              friction_per_fs: float = 0.01, calc_factory=xtb_calculator, progress: bool = True,
              parts: Path | None = None) -> list[Atoms]:
    """Langevin MD (``fixcm=False``) at ``temperature`` K from each start structure in turn.

    ``n_traj`` independent trajectories (round-robin over ``starts``), each equilibrated for
    ``equilibrate_fs`` and then sampled every ``stride_fs``. Reproducible for a given ``seed`` (trajectory t
    draws from its own generator ``[seed, t]``). With ``parts`` (a folder), each finished trajectory is saved
    there (``traj-NNNN.extxyz``, atomic rename) and re-read instead of re-run: a killed run resumes.
    """
    import ase.io
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import ZeroRotation
    from tqdm import tqdm

    per_traj = [n_frames // n_traj + (1 if t < n_frames % n_traj else 0) for t in range(n_traj)]
    out: list[Atoms] = []
    stride = max(1, round(stride_fs / timestep_fs))
    n_eq = round(equilibrate_fs / timestep_fs)
    bar = tqdm(total=n_frames, desc="sample", unit="frame", disable=not progress, file=sys.stderr)
    rejected = 0
    for t in range(n_traj):
        if per_traj[t] == 0:
            continue
        part = parts / f"traj-{t:04d}.extxyz" if parts is not None else None
        if part is not None and part.exists():
            out.extend(ase.io.read(part, ":"))
            bar.update(per_traj[t])
            continue
        first = len(out)
        start = starts[t % len(starts)]
        ref = bond_graph(start)
        rng = np.random.default_rng([seed, t])
        atoms = start.copy()
        atoms.calc = calc_factory()
        _thermalize(atoms, temperature, rng)
        ZeroRotation(atoms)
        dyn = Langevin(atoms, timestep=timestep_fs * units.fs, temperature_K=temperature,
                       friction=friction_per_fs / units.fs, fixcm=False, rng=rng)
        dyn.run(n_eq)
        got = 0
        while got < per_traj[t]:
            dyn.run(stride)
            if not same_bonds(ref, atoms):
                rejected += 1
                if rejected > max(10, n_frames // 10):
                    raise DensnetError(f"more than {rejected - 1} frames changed their bonds at {temperature} K; "
                                       "lower the temperature or check the start structure")
                atoms.set_positions(start.positions)  # restart this trajectory from its start structure
                _thermalize(atoms, temperature, rng)
                dyn.run(n_eq)
                continue
            frame = Atoms(numbers=atoms.numbers, positions=atoms.positions.copy())
            frame.info.update(traj=f"md-T{temperature:g}-seed{seed}-{t}", time_fs=float(dyn.nsteps * timestep_fs),
                              source="gfn2-md",
                              temperature_K=float(temperature), start=t % len(starts))
            out.append(frame)
            got += 1
            bar.update(1)
        if part is not None:
            tmp = part.with_name(part.name + ".tmp")
            ase.io.write(tmp, out[first:], format="extxyz")
            tmp.rename(part)
    bar.close()
    if rejected:
        print(f"sample: {rejected} frames with changed bonds were discarded", file=sys.stderr)
    return out


def sample_normal_modes(starts: list[Atoms], n_frames: int, temperature: float, seed: int,
                        calc_factory=xtb_calculator, progress: bool = True) -> list[Atoms]:
    """Classical harmonic (normal-mode) sampling about the GFN2-xTB minimum of each start structure.

    Each mode coordinate is drawn from its Boltzmann distribution at ``temperature``; frames are
    independent, so each is its own group for splitting.
    """
    import tempfile

    from ase.optimize import BFGS
    from ase.vibrations import Vibrations

    rng = np.random.default_rng(seed)
    modes = []
    for k, start in enumerate(starts):
        atoms = start.copy()
        atoms.calc = calc_factory()
        BFGS(atoms, logfile=None).run(fmax=1e-3, steps=500)
        with tempfile.TemporaryDirectory() as tmp:
            vib = Vibrations(atoms, name=str(Path(tmp) / f"vib{k}"), delta=0.005)
            vib.run()
            energies = vib.get_energies()  # eV, complex for imaginary
            vib_modes = np.array([vib.get_mode(i) for i in range(3 * len(atoms))])  # mass-weighted -> cartesian
        modes.append((atoms, energies, vib_modes, bond_graph(atoms)))
    out: list[Atoms] = []
    kT = units.kB * temperature
    attempts = 0
    while len(out) < n_frames:
        attempts += 1
        if attempts > 20 * n_frames:
            raise DensnetError("normal-mode sampling keeps breaking bonds; lower the temperature")
        atoms, energies, vib_modes, ref = modes[len(out) % len(modes)]
        disp = np.zeros_like(atoms.positions)
        masses = atoms.get_masses()
        n_rigid = 5 if _is_linear(atoms) else 6
        order = np.argsort(np.abs(energies))
        for k in order[n_rigid:]:  # skip translations and rotations (the lowest |e|)
            e, mode = float(np.real(energies[k])), vib_modes[k]
            if e < 50 * units.invcm:  # imaginary or very soft modes are not sampled harmonically
                continue
            u = mode * np.sqrt(masses)[:, None]  # unit mass-weighted eigenvector
            u /= np.linalg.norm(u)
            # V = 1/2 omega^2 Q^2 for the mass-weighted coordinate Q (sqrt(amu) A); <Q^2> = kT / omega^2
            omega = e / (units._hbar / units._e * units.second)  # 1 / ASE time unit
            sigma = np.sqrt(kT) / omega
            disp += rng.normal(0.0, sigma) * u / np.sqrt(masses)[:, None]
        frame = Atoms(numbers=atoms.numbers, positions=atoms.positions + disp)
        if not same_bonds(ref, frame):
            continue
        frame.info.update(traj=f"nm-T{temperature:g}-seed{seed}-{len(out)}", source="normal-modes",
                          temperature_K=float(temperature))
        out.append(frame)
    return out


#: close-contact frames: the moved atom ends at this fraction of its bond length (uniform in the range)
CLOSE_CONTACT_RANGE = (0.75, 0.95)


def sample_close_contacts(starts: list[Atoms], n_frames: int, seed: int,
                          bond_fraction: tuple[float, float] = CLOSE_CONTACT_RANGE) -> list[Atoms]:
    """Frames with one terminal atom (one bond, e.g. an H) pushed towards its bonded partner.

    Trained on thermal frames only, a network can have energies far below the minimum just inside the sampled
    bond lengths (benchmarks/pes_probe.md); labelled at the reference level, these frames teach the repulsive
    wall there. Each frame: a start, a terminal atom and a random direction about its partner, at a distance
    of f x its bond length with f uniform in ``bond_fraction``; draws where another atom comes closer than that
    distance are redrawn. Frames are independent (each its own split group).
    """
    lo, hi = bond_fraction
    if not 0 < lo <= hi < 1:
        raise DensnetError(f"close contacts: bond fraction range {bond_fraction} must lie in (0, 1)")
    rng = np.random.default_rng(seed)
    terminal = []
    for k, atoms in enumerate(starts):
        bonds = bond_graph(atoms)
        for i in range(len(atoms)):
            partners = [b if a == i else a for a, b in bonds if i in (a, b)]
            if len(partners) == 1:
                terminal.append((k, i, partners[0]))
    if not terminal:
        raise DensnetError("close contacts: no start structure has a terminal atom (an atom with one bond)")
    out: list[Atoms] = []
    attempts = 0
    while len(out) < n_frames:
        attempts += 1
        if attempts > 100 * n_frames:
            raise DensnetError("close contacts: no room to move terminal atoms (crowded structures)")
        k, i, j = terminal[rng.integers(len(terminal))]
        atoms = starts[k]
        r = rng.uniform(lo, hi) * atoms.get_distance(i, j)
        u = rng.normal(size=3)
        frame = Atoms(numbers=atoms.numbers, positions=atoms.positions.copy())
        frame.positions[i] = atoms.positions[j] + r * u / np.linalg.norm(u)
        d = np.linalg.norm(frame.positions - frame.positions[i], axis=1)
        d[[i, j]] = np.inf
        if d.min() < r:
            continue
        frame.info.update(traj=f"close-seed{seed}-{len(out)}", source="close-contacts",
                          moved_atom=int(i), partner=int(j), distance_A=float(r))
        out.append(frame)
    return out


def _is_linear(atoms: Atoms) -> bool:
    if len(atoms) < 3:
        return True
    x = atoms.positions - atoms.positions.mean(0)
    return bool(np.linalg.svd(x, compute_uv=False)[1] < 1e-3)


def run(input_path: str, output: str, temperature: float | None, n_frames: int, method: str, seed: int,
        trajectories: int, stride_fs: float, equilibrate_fs: float, timestep_fs: float,
        progress: bool = True) -> list[Atoms]:
    import ase.io

    from .label import read_frames

    if method != "close-contacts" and (temperature is None or temperature <= 0):
        raise DensnetError(f"--temperature must be given and positive for --method {method} (got {temperature})")
    if n_frames <= 0:
        raise DensnetError(f"--frames must be positive (got {n_frames})")
    starts = read_frames(input_path)
    if method == "gfn2":
        parts = _parts_folder(input_path, output, dict(
            temperature=temperature, n_frames=n_frames, trajectories=trajectories, seed=seed, stride_fs=stride_fs,
            equilibrate_fs=equilibrate_fs, timestep_fs=timestep_fs))
        frames = sample_md(starts, n_frames, temperature, trajectories, seed, timestep_fs=timestep_fs,
                           equilibrate_fs=equilibrate_fs, stride_fs=stride_fs, progress=progress, parts=parts,
                           calc_factory=xtb_calculator)
    elif method == "normal-modes":
        frames = sample_normal_modes(starts, n_frames, temperature, seed, progress=progress)
    elif method == "close-contacts":
        frames = sample_close_contacts(starts, n_frames, seed)
    else:
        raise DensnetError(f"--method {method!r}: choose gfn2, normal-modes or close-contacts")
    tmp = Path(output).with_name(Path(output).name + ".tmp")
    ase.io.write(tmp, frames, format="extxyz")
    tmp.rename(output)
    if method == "gfn2":
        shutil.rmtree(parts)
    return frames


def _parts_folder(input_path: str, output: str, settings: dict) -> Path:
    """``<output>.parts/``: finished trajectories of an interrupted run with these settings and this input; a
    folder left by other settings is refused (a resumed run must reproduce the same frames)."""
    import hashlib
    import json

    settings = {**settings, "input_sha256": hashlib.sha256(Path(input_path).read_bytes()).hexdigest()}
    parts = Path(output).with_name(Path(output).name + ".parts")
    stamp = parts / "settings.json"
    if parts.exists():
        old = json.loads(stamp.read_text()) if stamp.exists() else None
        if old != settings:
            raise DensnetError(f"{parts} holds trajectories of another sampling run ({old}); remove it or "
                               "re-run with the same settings and input")
    else:
        parts.mkdir(parents=True)
        stamp.write_text(json.dumps(settings, sort_keys=True))
    return parts

"""The labelled dataset: HDF5 layout (format version 1), reading, splits and extxyz conversion.

Layout (see docs/dataset.md): an index file ``data.h5`` with settings, per-element data and splits, and
chunk files ``data.h5.d/chunk-NNNNN.h5``, each holding a fixed range of input frames. Chunk files are
written once, atomically, and never rewritten. Units: A, eV, eV/A, e*A.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .errors import DensnetError

FORMAT = "densnet-dataset"
CHUNK_FORMAT = "densnet-chunk"
FORMAT_VERSION = 1
SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Frame:
    """One labelled geometry. Shapes: numbers [N], positions [N,3] (A), forces [N,3] (eV/A), dipole [3] (e*A).

    ``coeffs`` [n_coeffs] density-basis coefficients (PySCF order, see densnet.basis); ``dm`` [nao,nao] AO
    density matrix of the orbital basis (None when not stored); ``split`` 0 train, 1 val, 2 test.
    """

    numbers: np.ndarray
    positions: np.ndarray
    energy: float | None = None
    forces: np.ndarray | None = None
    dipole: np.ndarray | None = None
    coeffs: np.ndarray | None = None
    dm: np.ndarray | None = None
    split: int = 0
    index: int = 0
    cell: np.ndarray | None = None
    pbc: np.ndarray | None = None
    weight: float = 1.0  # loss weight in training (densnet train data_weights); not stored in files


@dataclass
class Dataset:
    """Frames plus the dataset-wide data needed to train and evaluate."""

    frames: list[Frame]
    level_of_theory: dict = field(default_factory=dict)
    density_basis: dict | None = None  # {symbol: PySCF basis}
    orbital_basis: dict | None = None
    sad_coeffs: dict[str, np.ndarray] = field(default_factory=dict)
    atom_energies: dict[str, float] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)

    def split(self, name: str) -> list[Frame]:
        k = SPLIT_NAMES.index(name)
        return [f for f in self.frames if f.split == k]

    @property
    def elements(self) -> list[str]:
        from ase.data import chemical_symbols

        zs = sorted({int(z) for f in self.frames for z in f.numbers})
        return [chemical_symbols[z] for z in zs]


def chunk_dir(index_path: Path) -> Path:
    return Path(str(index_path) + ".d")


def atomic_write_h5(path: Path, writer) -> None:
    """Write an HDF5 file via a temporary file and ``os.replace`` so readers never see a partial file."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with h5py.File(tmp, "w") as h5:
        writer(h5)
    os.replace(tmp, path)


def pack_tril(m: np.ndarray) -> np.ndarray:
    """Lower triangle (row-major, including the diagonal) of a symmetric matrix [n,n] -> [n(n+1)/2]."""
    return m[np.tril_indices(m.shape[0])]


def unpack_tril(v: np.ndarray, n: int) -> np.ndarray:
    m = np.zeros((n, n), dtype=np.float64)
    m[np.tril_indices(n)] = v
    return m + np.tril(m, -1).T


def write_chunk(path: Path, records: list[dict], failed: dict[int, str], first: int, last: int,
                settings_hash: str, dm_dtype: str | None) -> None:
    """Write frames ``records`` (dicts from densnet.dft.label_frame plus numbers/positions/index)."""

    def writer(h5: h5py.File) -> None:
        h5.attrs.update(format=CHUNK_FORMAT, format_version=FORMAT_VERSION, first=first, last=last,
                        settings_hash=settings_hash)
        recs = sorted(records, key=lambda r: r["index"])
        h5["frame_index"] = np.array([r["index"] for r in recs], dtype=np.int64)
        h5["n_atoms"] = np.array([len(r["numbers"]) for r in recs], dtype=np.int64)
        h5["numbers"] = np.concatenate([r["numbers"] for r in recs]).astype(np.int64) if recs else np.zeros(0)
        def cat(k: str, shape: tuple[int, ...], dt=np.float64) -> np.ndarray:
            if not recs:
                return np.zeros((0,) + shape[1:], dt)
            return np.concatenate([np.asarray(r[k], dt).reshape(shape) for r in recs])

        h5["positions"] = cat("positions", (-1, 3))
        h5["energy"] = np.array([r["energy"] for r in recs], dtype=np.float64)
        h5["forces"] = cat("forces", (-1, 3))
        h5["dipole"] = cat("dipole", (-1, 3))
        h5["n_coeffs"] = np.array([len(r["coeffs"]) for r in recs], dtype=np.int64)
        h5["coeffs"] = cat("coeffs", (-1,))
        for k in ("n_scf_cycles", "attempt"):
            h5[k] = np.array([r[k] for r in recs], dtype=np.int64)
        h5["seconds"] = np.array([r["seconds"] for r in recs], dtype=np.float64)
        if dm_dtype is not None:
            h5["n_ao"] = np.array([r["dm"].shape[0] for r in recs], dtype=np.int64)
            dms = [pack_tril(np.asarray(r["dm"])).astype(dm_dtype) for r in recs]
            h5.create_dataset("dm_tril", data=np.concatenate(dms) if dms else np.zeros(0, dm_dtype),
                              compression="gzip", compression_opts=4, shuffle=True)
        idx = sorted(failed)
        h5["failed_index"] = np.array(idx, dtype=np.int64)
        h5["failed_reason"] = np.array([failed[i] for i in idx], dtype=h5py.string_dtype())

    atomic_write_h5(path, writer)


def _read_chunk(path: Path, load_dm: bool) -> tuple[list[dict], dict[int, str]]:
    with h5py.File(path, "r") as h5:
        if h5.attrs.get("format") != CHUNK_FORMAT:
            raise DensnetError(f"{path} is not a densnet chunk file")
        n_atoms = h5["n_atoms"][()]
        a_off = np.concatenate([[0], np.cumsum(n_atoms)])
        n_c = h5["n_coeffs"][()]
        c_off = np.concatenate([[0], np.cumsum(n_c)])
        data = {k: h5[k][()] for k in ("frame_index", "numbers", "positions", "energy", "forces", "dipole",
                                       "coeffs")}
        has_dm = load_dm and "dm_tril" in h5
        if has_dm:
            n_ao = h5["n_ao"][()]
            d_off = np.concatenate([[0], np.cumsum(n_ao * (n_ao + 1) // 2)])
            dm_tril = h5["dm_tril"][()]
        out = []
        for i in range(len(n_atoms)):
            a = slice(a_off[i], a_off[i + 1])
            rec = {"index": int(data["frame_index"][i]), "numbers": data["numbers"][a],
                   "positions": data["positions"][a], "energy": float(data["energy"][i]),
                   "forces": data["forces"][a], "dipole": data["dipole"][i],
                   "coeffs": data["coeffs"][c_off[i] : c_off[i + 1]]}
            if has_dm:
                rec["dm"] = unpack_tril(dm_tril[d_off[i] : d_off[i + 1]], int(n_ao[i]))
            out.append(rec)
        failed = {int(i): (r.decode() if isinstance(r, bytes) else str(r))
                  for i, r in zip(h5["failed_index"][()], h5["failed_reason"][()], strict=True)}
    return out, failed


def read_index(path: Path) -> dict:
    """Attributes and per-element data of an index file; raises DensnetError on foreign/corrupt files."""
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise DensnetError(f"{path}: not a readable HDF5 file ({exc})") from None
    with h5:
        if h5.attrs.get("format") != FORMAT:
            raise DensnetError(f"{path}: not a densnet dataset (format attribute {h5.attrs.get('format')!r})")
        version = int(h5.attrs["format_version"])
        if version != FORMAT_VERSION:
            raise DensnetError(f"{path}: dataset format version {version}, this densnet reads {FORMAT_VERSION}")
        info = {k: h5.attrs[k] for k in h5.attrs}
        info["settings"] = json.loads(info["settings"])
        info["chunks"] = json.loads(info["chunks"])
        info["split"] = h5["split"][()]
        info["group"] = h5["group"][()]
        info["elements"] = {}
        for el, g in h5.get("elements", {}).items():
            info["elements"][el] = {"sad_coeffs": g["sad_coeffs"][()], "energy": float(g.attrs["energy"])}
        info["density_basis"] = json.loads(info["density_basis"]) if "density_basis" in info else None
        info["orbital_basis"] = json.loads(info["orbital_basis"]) if "orbital_basis" in info else None
    return info


def labelling_stats(path: str | Path) -> dict | None:
    """SCF statistics of the completed chunks of index ``path``: frames, mean/min/max SCF cycles, mean seconds
    per frame (wall, as recorded by the worker), frames per SCF attempt (0 plain DIIS, 1 damped, 2 Newton).
    None when no chunk is complete."""
    path = Path(path)
    info = read_index(path)
    cycles, seconds, attempts = [], [], []
    for name in info["chunks"]:
        with h5py.File(chunk_dir(path) / name, "r") as h5:
            cycles.append(h5["n_scf_cycles"][()])
            seconds.append(h5["seconds"][()])
            attempts.append(h5["attempt"][()])
    if not cycles or not np.concatenate(cycles).size:
        return None
    c, t, a = (np.concatenate(x) for x in (cycles, seconds, attempts))
    return {"frames": int(c.size), "cycles_mean": float(c.mean()), "cycles_min": int(c.min()),
            "cycles_max": int(c.max()), "seconds_mean": float(t.mean()),
            "attempts": {int(k): int(n) for k, n in zip(*np.unique(a, return_counts=True), strict=True)}}


def load_h5(path: str | Path, load_dm: bool = True) -> Dataset:
    """Read a dataset written by ``densnet label`` (only completed chunks)."""
    path = Path(path)
    info = read_index(path)
    frames: list[Frame] = []
    failed: dict[int, str] = {}
    for name in info["chunks"]:
        recs, fail = _read_chunk(chunk_dir(path) / name, load_dm)
        failed.update(fail)
        for r in recs:
            frames.append(Frame(numbers=r["numbers"], positions=r["positions"], energy=r["energy"],
                                forces=r["forces"], dipole=r["dipole"], coeffs=r["coeffs"], dm=r.get("dm"),
                                split=int(info["split"][r["index"]]), index=r["index"]))
    frames.sort(key=lambda f: f.index)
    return Dataset(frames=frames, level_of_theory=info["settings"]["level_of_theory"],
                   density_basis=info["density_basis"], orbital_basis=info["orbital_basis"],
                   sad_coeffs={el: d["sad_coeffs"] for el, d in info["elements"].items()},
                   atom_energies={el: d["energy"] for el, d in info["elements"].items()}, failed=failed)


def assign_splits(groups: np.ndarray, fractions: tuple[float, float, float], seed: int) -> np.ndarray:
    """Split label per frame (0 train, 1 val, 2 test), whole groups (trajectories) at a time.

    Groups are shuffled with ``seed`` and filled into test, then validation, then training until each
    reaches its share of frames. Frames of one group never straddle two splits.
    """
    uniq, counts = np.unique(groups, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(uniq))
    total = counts.sum()
    split_of_group = np.zeros(len(uniq), dtype=np.int8)
    filled = [0, 0, 0]
    targets = [fractions[0] * total, fractions[1] * total, fractions[2] * total]
    remaining = list(order)
    for k in (2, 1):
        while remaining and filled[k] + counts[remaining[0]] / 2 <= targets[k] and len(remaining) > 1:
            g = remaining.pop(0)
            split_of_group[g] = k
            filled[k] += counts[g]
    lookup = dict(zip(uniq.tolist(), split_of_group.tolist(), strict=True))
    return np.array([lookup[g] for g in groups.tolist()], dtype=np.int8)


def frame_groups(atoms_list, min_groups: int = 10) -> np.ndarray:
    """Correlation group of each frame: the ``traj`` info key if present, else contiguous blocks.

    When there are fewer than ``min_groups`` trajectories, each is cut into contiguous blocks so that a
    split is possible; frames in a block stay together.
    """
    n = len(atoms_list)
    trajs = [a.info.get("traj") for a in atoms_list]
    if any(t is None for t in trajs):
        trajs = [0] * n
    ids: dict[str, int] = {}
    trajs = np.asarray([ids.setdefault(str(t), len(ids)) for t in trajs], dtype=np.int64)
    n_traj = len(np.unique(trajs))
    if n_traj >= min_groups:
        return trajs
    block = max(1, n // min_groups)
    groups = np.zeros(n, dtype=np.int64)
    counter: dict[int, int] = {}
    gid = -1
    prev = None
    for i, t in enumerate(trajs.tolist()):
        c = counter.get(t, 0)
        if prev != t or c % block == 0:
            gid += 1
        counter[t] = c + 1
        prev = t
        groups[i] = gid
    return groups


# ---------------------------------------------------------------------------------------------- extxyz


def to_atoms(frame: Frame):
    """ASE Atoms with a SinglePointCalculator holding energy, forces and dipole."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms = Atoms(numbers=frame.numbers, positions=frame.positions)
    if frame.cell is not None:
        atoms.cell = frame.cell
        atoms.pbc = frame.pbc
    atoms.info["split"] = SPLIT_NAMES[frame.split]
    atoms.info["frame_index"] = frame.index
    results = {}
    if frame.energy is not None:
        results["energy"] = frame.energy
    if frame.forces is not None:
        results["forces"] = np.asarray(frame.forces)
    if frame.dipole is not None:
        results["dipole"] = np.asarray(frame.dipole)
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def write_extxyz(dataset: Dataset, path: str | Path) -> None:
    import ase.io

    ase.io.write(str(path), [to_atoms(f) for f in dataset.frames], format="extxyz")


def read_extxyz(path: str | Path) -> Dataset:
    """Read energies/forces/dipoles from an ASE-readable file labelled by any code.

    Labels come from the file's calculator results (ASE's extxyz convention: ``energy``, ``forces``,
    ``dipole``); an ``info['split']`` of train/val/test is honoured, otherwise every frame is ``test``.
    """
    import ase.io

    try:
        images = ase.io.read(str(path), index=":")
    except Exception as exc:
        raise DensnetError(f"cannot read {path}: {exc}") from None
    frames = []
    for i, atoms in enumerate(images):
        res = atoms.calc.results if atoms.calc is not None else {}
        split = atoms.info.get("split", "test")
        frames.append(Frame(
            numbers=atoms.numbers.copy(), positions=atoms.positions.copy(),
            energy=float(res["energy"]) if "energy" in res else atoms.info.get("energy"),
            forces=np.asarray(res["forces"]) if "forces" in res else atoms.arrays.get("forces"),
            dipole=np.asarray(res["dipole"]) if "dipole" in res else atoms.info.get("dipole"),
            split=SPLIT_NAMES.index(split) if split in SPLIT_NAMES else 2, index=i,
            cell=atoms.cell.array.copy() if atoms.pbc.any() else None,
            pbc=atoms.pbc.copy() if atoms.pbc.any() else None))
    return Dataset(frames=frames)


#: Largest accepted difference between two datasets' free-atom results in :func:`merge`: SAD coefficients
#: (electrons per basis function) and free-atom energies (eV). The free-atom SCF is run once per labelling run
#: and agrees only to its convergence: two ethanol runs differed by 2.2e-10 (O coefficients) and 1.6e-6 eV
#: (O energy); both are far below anything a model resolves (the energy only shifts the normalisation).
SAD_TOLERANCE = 1e-7
ATOM_ENERGY_TOLERANCE_EV = 1e-4


def merge(datasets: list[Dataset], names: list[str] | None = None) -> Dataset:
    """One dataset from several (e.g. one per oligomer), keeping each frame's split.

    The level of theory must be identical; per-element density/orbital bases, SAD coefficients and free-atom
    energies are united and must agree where elements are shared. Frame ``index`` stays the index within its
    source dataset; ``failed`` keys become ``"<name>:<index>"``.
    """
    names = names or [str(k) for k in range(len(datasets))]
    if len(datasets) == 1:
        return datasets[0]
    out = Dataset(frames=[], level_of_theory=dict(datasets[0].level_of_theory))
    for ds, name in zip(datasets, names, strict=True):
        if ds.level_of_theory != out.level_of_theory:
            raise DensnetError(f"{name}: level of theory {ds.level_of_theory} differs from {names[0]}: "
                               f"{out.level_of_theory}; relabel or refit so that all datasets match")
        for attr in ("density_basis", "orbital_basis"):
            mine, theirs = getattr(out, attr), getattr(ds, attr)
            if theirs is None:
                if ds.frames and attr == "density_basis":
                    raise DensnetError(f"{name}: no density basis (not a dataset from densnet label)")
                continue
            mine = {} if mine is None else mine
            for el, b in theirs.items():
                if el in mine and mine[el] != b:
                    raise DensnetError(f"{name}: {attr} of {el} differs from the other datasets")
                mine[el] = b
            setattr(out, attr, mine)
        for el, c in ds.sad_coeffs.items():
            if el in out.sad_coeffs and not np.allclose(out.sad_coeffs[el], c, rtol=0, atol=SAD_TOLERANCE):
                diff = float(np.abs(out.sad_coeffs[el] - c).max())
                raise DensnetError(f"{name}: SAD coefficients of {el} differ from the other datasets by up to "
                                   f"{diff:.2g} (> {SAD_TOLERANCE:g}): another free-atom calculation")
            out.sad_coeffs[el] = c
        for el, e in ds.atom_energies.items():
            if el in out.atom_energies and abs(out.atom_energies[el] - e) > ATOM_ENERGY_TOLERANCE_EV:
                raise DensnetError(f"{name}: free-atom energy of {el} differs from the other datasets by "
                                   f"{abs(out.atom_energies[el] - e):.2g} eV (> {ATOM_ENERGY_TOLERANCE_EV:g} eV)")
            out.atom_energies[el] = e
        out.frames.extend(ds.frames)
        out.failed.update({f"{name}:{k}": v for k, v in ds.failed.items()})
    return out


def load(path: str | Path | list, load_dm: bool = True) -> Dataset:
    """Load a densnet HDF5 dataset or any ASE-readable labelled file (extxyz); a list of paths is merged
    (:func:`merge`)."""
    if isinstance(path, list | tuple):
        if not path:
            raise DensnetError("no dataset given")
        return merge([load(p, load_dm) for p in path], [str(p) for p in path])
    path = Path(path)
    if not path.exists():
        raise DensnetError(f"{path}: no such file")
    if path.suffix in (".h5", ".hdf5"):
        return load_h5(path, load_dm)
    return read_extxyz(path)

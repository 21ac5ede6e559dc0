"""``densnet label``: resumable, parallel PySCF labelling of frames into a chunked HDF5 dataset.

Every finished frame is saved at once to ``<out>.d/pending/`` (atomic rename), so a kill loses only the
frames in flight. When all frames of a chunk's range are done (or failed), they are packed into
``<out>.d/chunk-NNNNN.h5`` (written once, atomically) and the index ``<out>`` is rewritten atomically.
Re-running the same command continues; a different setting is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

import h5py
import numpy as np

from . import __version__
from .basis import basis_to_json, resolve_basis
from .dataset import (
    CHUNK_FORMAT,
    FORMAT,
    FORMAT_VERSION,
    assign_splits,
    atomic_write_h5,
    chunk_dir,
    frame_groups,
    write_chunk,
)
from .dft import ATOM_SPIN, LevelOfTheory, SCFNotConverged, free_atom_data, label_frame
from .errors import DensnetError
from .neighbors import MIN_DISTANCE


@dataclass(frozen=True)
class LabelSettings:
    """Everything that decides the content of a dataset; stored in the index and checked on resume."""

    level_of_theory: LevelOfTheory
    chunk_size: int = 25
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_seed: int = 0
    dm_dtype: str | None = "float32"

    def as_dict(self) -> dict:
        return {"level_of_theory": self.level_of_theory.as_dict(), "chunk_size": self.chunk_size,
                "split_fractions": list(self.split_fractions), "split_seed": self.split_seed,
                "dm_dtype": self.dm_dtype}


def read_frames(path: str | Path):
    """Read all frames of an ASE-readable file; clear errors for missing/unreadable/empty files."""
    import ase.io

    path = Path(path)
    if not path.is_file():
        raise DensnetError(f"{path}: no such file")
    try:
        frames = ase.io.read(str(path), index=":")
    except Exception as exc:
        raise DensnetError(f"{path}: unreadable structure file ({type(exc).__name__}: {exc})") from None
    if not frames:
        raise DensnetError(f"{path}: contains no frames")
    return frames


def validate_frames(frames, lot: LevelOfTheory) -> None:
    """Refuse unsupported elements, odd electron counts (RKS) and atoms closer than 0.5 A."""
    from ase.data import chemical_symbols

    supported = set(ATOM_SPIN)
    for i, atoms in enumerate(frames):
        syms = set(atoms.get_chemical_symbols())
        bad = sorted(syms - supported)
        if bad:
            raise DensnetError(f"frame {i}: unsupported element(s) {', '.join(bad)} "
                               f"(supported: {', '.join(s for s in chemical_symbols if s in supported)})")
        n_el = int(atoms.numbers.sum()) - lot.charge
        if n_el % 2:
            raise DensnetError(f"frame {i}: {n_el} electrons (charge {lot.charge}); RKS needs an even count")
        if len(atoms) > 1:
            d = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
            np.fill_diagonal(d, np.inf)
            a, b = np.unravel_index(np.argmin(d), d.shape)
            if d[a, b] < MIN_DISTANCE:
                raise DensnetError(f"frame {i}: atoms {a} and {b} are {d[a, b]:.3f} A apart "
                                   f"(closer than {MIN_DISTANCE} A; are the positions in Angstrom?)")
        if atoms.pbc.any():
            raise DensnetError(f"frame {i}: periodic cell; densnet label does molecular (gas-phase) DFT only")


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------ worker side

_WORKER_STATE: dict = {}


def _init_worker(threads: int, parent_pid: int | None = None) -> None:
    """Set PySCF's thread count; in a pool worker (``parent_pid`` given) also start the parent watchdog."""
    from pyscf import lib

    lib.num_threads(threads)
    _WORKER_STATE.clear()
    if parent_pid is not None:
        threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


def _exit_with_parent(parent_pid: int, poll_seconds: float = 1.0) -> None:
    """End this worker once the labelling process that started it is gone.

    A pool cannot stop its workers when its own process is killed (SIGTERM or SIGKILL): without this they would
    label on as orphans for minutes, their results lost, competing for cores with the resumed run.
    """
    while os.getppid() == parent_pid:
        time.sleep(poll_seconds)
    os._exit(1)


def _label_task(index: int, numbers: np.ndarray, positions: np.ndarray, lot_dict: dict,
                density_basis_json: str) -> dict:
    """Label one frame; re-uses the previous density matrix of the same formula as initial guess."""
    from .basis import basis_from_json

    lot = LevelOfTheory(**lot_dict)
    key = tuple(numbers.tolist())
    dm0 = _WORKER_STATE.get(key)
    try:
        rec = label_frame(numbers, positions, lot, basis_from_json(density_basis_json), dm0=dm0)
    except SCFNotConverged as exc:
        return {"index": index, "failed": str(exc)}
    _WORKER_STATE.clear()
    _WORKER_STATE[key] = rec["dm"]
    rec.update(index=index, numbers=numbers, positions=positions)
    return rec


# ------------------------------------------------------------------------------------------ main side


def _pending_path(store: Path, index: int) -> Path:
    return store / "pending" / f"frame-{index:07d}.npz"


def _save_pending(store: Path, rec: dict) -> None:
    path = _pending_path(store, rec["index"])
    tmp = path.with_name(path.name + ".tmp.npz")
    arrays = {k: np.asarray(v) for k, v in rec.items() if k != "failed"}
    if "failed" in rec:
        arrays = {"index": np.asarray(rec["index"]), "failed": np.asarray(rec["failed"])}
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _load_pending(path: Path) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            rec = {k: z[k] for k in z.files}
    except Exception:
        return None  # a torn file from a kill before the rename cannot exist; be safe anyway
    rec["index"] = int(rec["index"])
    if "failed" in rec:
        rec["failed"] = str(rec["failed"])
        return rec
    for k in ("energy", "seconds"):
        rec[k] = float(rec[k])
    for k in ("n_scf_cycles", "attempt"):
        rec[k] = int(rec[k])
    return rec


class Labeller:
    """Drives one labelling run into ``out`` (index file) and ``out.d/`` (chunks)."""

    def __init__(self, frames_path: Path, out: Path, settings: LabelSettings):
        self.frames_path = Path(frames_path)
        self.out = Path(out)
        self.store = chunk_dir(self.out)
        self.settings = settings
        self.frames = read_frames(self.frames_path)
        validate_frames(self.frames, settings.level_of_theory)
        self.n = len(self.frames)
        self.identity = {"settings": settings.as_dict(), "input_sha256": _file_sha(self.frames_path)}
        self.settings_hash = _hash(self.identity)
        elements = sorted({s for a in self.frames for s in a.get_chemical_symbols()})
        lot = settings.level_of_theory
        self.density_basis = resolve_basis(lot.density_basis, elements, lot.basis)
        self.orbital_basis = resolve_basis(lot.basis, elements)
        self.elements = elements
        self.chunks: list[str] = []
        self.element_data: dict[str, dict] = {}
        groups = frame_groups(self.frames)
        self.groups = groups
        self.split = assign_splits(groups, settings.split_fractions, settings.split_seed)

    # -- index -----------------------------------------------------------------------------------------
    def _check_existing(self) -> None:
        if not self.out.exists():
            return
        try:
            with h5py.File(self.out, "r") as h5:
                if h5.attrs.get("format") != FORMAT:
                    raise DensnetError(f"{self.out} exists and is not a densnet dataset; choose another -o")
                old = json.loads(h5.attrs["identity"])
                self.chunks = json.loads(h5.attrs["chunks"])
                for el, g in h5["elements"].items():
                    self.element_data[el] = {"sad_coeffs": g["sad_coeffs"][()],
                                             "energy": float(g.attrs["energy"])}
        except OSError as exc:
            raise DensnetError(f"{self.out} exists but is unreadable ({exc}); move it away") from None
        if old != self.identity:
            diffs = _dict_diff(old, self.identity)
            raise DensnetError(f"{self.out} exists with different settings ({diffs}); "
                               "use another -o or the original settings")

    def _write_index(self) -> None:
        lot = self.settings.level_of_theory

        def writer(h5: h5py.File) -> None:
            h5.attrs.update(format=FORMAT, format_version=FORMAT_VERSION, densnet_version=__version__,
                            identity=json.dumps(self.identity, sort_keys=True),
                            settings=json.dumps(self.settings.as_dict(), sort_keys=True),
                            level_of_theory=lot.describe(), input_file=self.frames_path.name,
                            n_frames=self.n, chunks=json.dumps(self.chunks),
                            density_basis=basis_to_json(self.density_basis),
                            orbital_basis=basis_to_json(self.orbital_basis),
                            units="positions A, energy eV, forces eV/A, dipole e*A")
            h5["split"] = self.split
            h5["split"].attrs["names"] = json.dumps(["train", "val", "test"])
            h5["group"] = self.groups
            g = h5.create_group("elements")
            for el, d in self.element_data.items():
                ge = g.create_group(el)
                ge["sad_coeffs"] = d["sad_coeffs"]
                ge.attrs["energy"] = d["energy"]

        atomic_write_h5(self.out, writer)

    # -- run -------------------------------------------------------------------------------------------
    def chunk_name(self, k: int) -> str:
        return f"chunk-{k:05d}.h5"

    def run(self, workers: int = 1, threads: int = 1, progress: bool = True, stream=None) -> dict:
        from tqdm import tqdm

        stream = stream or sys.stderr

        self._check_existing()
        (self.store / "pending").mkdir(parents=True, exist_ok=True)
        self._lock = _acquire_lock(self.store / "lock", self.out)
        lot = self.settings.level_of_theory
        for el in self.elements:
            if el not in self.element_data:
                self.element_data[el] = free_atom_data(el, lot, self.density_basis)
        self._adopt_orphan_chunks()
        self._write_index()

        size = self.settings.chunk_size
        n_chunks = (self.n + size - 1) // size
        done_chunks = set(self.chunks)
        pending: dict[int, dict] = {}
        for p in sorted((self.store / "pending").glob("frame-*.npz")):
            rec = _load_pending(p)
            if rec is not None:
                pending[rec["index"]] = rec
        todo = [i for i in range(self.n)
                if self.chunk_name(i // size) not in done_chunks and i not in pending]
        n_done_before = self.n - len(todo)
        stats = {"done": 0, "failed": 0, "seconds": []}
        bar = tqdm(total=self.n, initial=n_done_before, disable=not progress, file=stream,
                   desc=f"label {self.out.name}", unit="frame", dynamic_ncols=True)

        def finish(rec: dict) -> None:
            _save_pending(self.store, rec)
            pending[rec["index"]] = rec
            if "failed" in rec:
                stats["failed"] += 1
                tqdm.write(f"frame {rec['index']}: {rec['failed']} (left out)", file=stream)
            else:
                stats["done"] += 1
                stats["seconds"].append(rec["seconds"])
            bar.update(1)
            self._pack_ready(pending, n_chunks)

        self._pack_ready(pending, n_chunks)
        lot_dict = lot.as_dict()
        dbj = basis_to_json(self.density_basis)
        t0 = time.perf_counter()
        if workers <= 1:
            _init_worker(threads)
            for i in todo:
                a = self.frames[i]
                finish(_label_task(i, a.numbers.copy(), a.positions.copy(), lot_dict, dbj))
        else:
            ctx = get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                     initargs=(threads, os.getpid())) as pool:
                # keep a short queue so each worker sees consecutive frames (good initial guesses)
                it = iter(todo)
                futures = set()
                for i in it:
                    a = self.frames[i]
                    futures.add(pool.submit(_label_task, i, a.numbers.copy(), a.positions.copy(), lot_dict, dbj))
                    if len(futures) >= 2 * workers:
                        break
                while futures:
                    finished, futures = wait(futures, return_when=FIRST_COMPLETED)
                    for f in finished:
                        finish(f.result())
                        nxt = next(it, None)
                        if nxt is not None:
                            a = self.frames[nxt]
                            futures.add(pool.submit(_label_task, nxt, a.numbers.copy(), a.positions.copy(),
                                                    lot_dict, dbj))
        bar.close()
        wall = time.perf_counter() - t0
        secs = stats["seconds"]
        summary = {"frames_total": self.n, "labelled_now": stats["done"], "failed_now": stats["failed"],
                   "done_before": n_done_before, "chunks_complete": len(self.chunks), "chunks_total": n_chunks,
                   "wall_seconds": wall, "seconds_per_frame": float(np.mean(secs)) if secs else None,
                   "frames_per_hour": 3600 * len(secs) / wall if secs and wall > 0 else None}
        return summary

    def _adopt_orphan_chunks(self) -> None:
        """Register chunk files written just before a kill that did not reach the index.

        A chunk is written (atomically) before the index that lists it, so a kill between the two leaves a
        complete chunk the index does not know. It is adopted if it carries this run's settings hash and the
        frame range its name implies; otherwise it is moved aside to ``*.stale`` (and relabelled).
        """
        size = self.settings.chunk_size
        for path in sorted(self.store.glob("chunk-*.h5")):
            if path.name in self.chunks:
                continue
            k = int(path.name[6:11])
            try:
                with h5py.File(path, "r") as h5:
                    ok = (h5.attrs.get("format") == CHUNK_FORMAT and h5.attrs.get("settings_hash") == self.settings_hash
                          and int(h5.attrs["first"]) == k * size
                          and int(h5.attrs["last"]) == min((k + 1) * size, self.n) - 1)
            except (OSError, KeyError):
                ok = False
            if ok:
                self.chunks.append(path.name)
            else:
                path.rename(path.with_name(path.name + ".stale"))
        self.chunks.sort()

    def _pack_ready(self, pending: dict[int, dict], n_chunks: int) -> None:
        size = self.settings.chunk_size
        changed = False
        for k in range(n_chunks):
            name = self.chunk_name(k)
            if name in self.chunks:
                continue
            rng = range(k * size, min((k + 1) * size, self.n))
            if not all(i in pending for i in rng):
                continue
            recs = [pending[i] for i in rng if "failed" not in pending[i]]
            failed = {i: pending[i]["failed"] for i in rng if "failed" in pending[i]}
            write_chunk(self.store / name, recs, failed, rng.start, rng.stop - 1, self.settings_hash,
                        self.settings.dm_dtype)
            self.chunks.append(name)
            self.chunks.sort()
            changed = True
        if changed:
            self._write_index()
            for name in self.chunks:  # pending files of packed chunks are no longer needed
                k = int(name[6:11])
                for i in range(k * size, min((k + 1) * size, self.n)):
                    p = _pending_path(self.store, i)
                    if p.exists():
                        p.unlink()
                        pending.pop(i, None)


def _acquire_lock(path: Path, out: Path):
    """Exclusive lock so two ``densnet label`` runs never write the same output; released at exit."""
    import fcntl

    fh = open(path, "a+")  # noqa: SIM115 - kept open for the life of the run
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        raise DensnetError(f"another densnet label is writing {out} (pid {fh.read().strip() or '?'}); "
                           "wait for it or stop it first") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


def _dict_diff(old, new, prefix="") -> str:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            d = _dict_diff(a, b, prefix + k + ".")
            if d:
                out.append(d)
        elif a != b:
            out.append(f"{prefix}{k}: stored {a!r}, now {b!r}")
    return "; ".join(out)


def settings_from_args(xc: str, basis: str, auxbasis: str, density_basis: str, grid_level: int,
                       conv_tol: float, charge: int, max_cycle: int, chunk_size: int, split: str, split_seed: int,
                       store_dm: str) -> LabelSettings:
    try:
        fr = tuple(float(x) for x in split.split(","))
        assert len(fr) == 3 and abs(sum(fr) - 1) < 1e-6 and min(fr) >= 0
    except (ValueError, AssertionError):
        raise DensnetError(f"--split {split!r}: give three fractions train,val,test summing to 1") from None
    lot = LevelOfTheory(xc=xc, basis=basis, auxbasis=auxbasis, density_basis=density_basis,
                        grid_level=grid_level, conv_tol=conv_tol, charge=charge, max_cycle=max_cycle)
    return LabelSettings(level_of_theory=lot, chunk_size=chunk_size, split_fractions=fr,  # type: ignore[arg-type]
                         split_seed=split_seed, dm_dtype=None if store_dm == "none" else store_dm)


__all__ = ["Labeller", "LabelSettings", "read_frames", "validate_frames", "settings_from_args", "replace"]

"""Accuracy benchmark (issue 6, item 3): densnet vs MACE vs the SAD-only baseline on the held-out test split.

For each dataset (a densnet HDF5 from ``densnet label``, or several: ``NAME=PATH[,PATH...]``) this script, in one
run and with one stated budget:

1. snapshots the dataset files (index + completed chunks) into the work directory, so that both models see
   exactly the same frames even while labelling goes on, and exports the SAME train/val/test splits to extxyz for
   MACE through densnet's API (``densnet.train.load_weighted`` of the file list: the merged dataset, each frame
   keeping its own file's split and its ``data_weights`` entry from ``--densnet-config`` as MACE's
   ``config_weight``, as ``densnet train`` sees it; ``REF_energy`` eV, ``REF_forces`` eV/A) plus the E0s = the
   dataset's free-atom energies at the reference level (the same per-element reference densnet's energy
   normalisation uses);
2. trains densnet (``densnet train``: density then energy stage, default model) and MACE (``mace_run_train``
   from ``.venv-mace``, hyperparameters in ``MACE_HYPERS``) on the same training frames, validation split for
   early stopping / model selection, with ``--threads`` torch threads each, one after the other;
3. evaluates both on the test split: densnet with ``densnet evaluate`` (eps_rho against the exact KS density,
   its fitting floor and the SAD-only error; E, F, dipole), MACE with ``mace_eval_configs`` (E, F);
4. evaluates both the same way on every ``--heldout NAME=PATH[,PATH...]`` set: datasets never trained on,
   evaluated WHOLE (every frame, whatever its split label: ``densnet evaluate --split all``), e.g. longer
   oligomers for an extrapolation test; each is snapshotted too and must have the training data's level of
   theory and free-atom energies;
5. writes a Markdown report: eps_rho (%), energy MAE (eV/molecule and meV/atom), force MAE (eV/A), dipole MAE
   (D per component; MACE predicts none), the CPU time of each training, command, date, machine and load; and,
   when the test split holds more than one chemical formula or ``--heldout`` is given, a per-composition table:
   one row per (set, formula), set = ``test`` or a held-out NAME, ordered by number of atoms, with the energy
   MAE (meV/atom) and force MAE of both models and of every ``--densnet-variant`` (e.g. a learning-curve point
   per chain length), densnet's dipole MAE and eps_rho (with the fitting floor). densnet's per-formula numbers
   are computed in this process with ``densnet.evaluate.evaluate`` (the code of ``densnet evaluate``; a set of
   one formula reuses its whole-set result), MACE's by grouping its predictions by
   ``Atoms.get_chemical_formula()``.

Budget (``--budget``): ``smoke`` (minutes: proves the pipeline) or ``full`` (hours: the real run); both set
the epochs of each model, overridable with ``--densnet-epochs DENSITY,ENERGY`` and ``--mace-epochs N``.
CPU time = user + system time of the whole training command (for MACE including its own final evaluation and
model compilation), summed over resumed invocations.

Resuming: everything lives in ``--workdir`` (default ``runs/accuracy/<name>``, git-ignored). Re-running the same
command after a kill continues: finished steps are skipped (snapshots, exports, trainings, evaluations, and
per-formula results one formula at a time), densnet resumes exactly from ``last.ckpt`` (``densnet train
--resume``), MACE from its latest (best-so-far) checkpoint (``--restart_latest``). A different budget, seed,
thread count, densnet setting or list of dataset files in an existing work directory is refused (``--fresh``
starts over). Held-out sets are not settings (the models do not depend on them): a held-out NAME that is new on a
re-run is snapshotted and evaluated with the existing models, the report covers the held-out sets of the current
command, and a NAME that was snapshotted from other files is refused (use another NAME, or ``--fresh``).

Setup: ``bash benchmarks/mace/setup.sh`` (or ``make mace-env``) creates ``.venv-mace``.

Smoke test of the pipeline (minutes; on the shipped 60-frame set; NOT a result)::

    nice -n 10 .venv/bin/python benchmarks/accuracy.py examples/ethanol/small.h5 --budget smoke --parallel \\
        --out benchmarks/accuracy_smoke.md --workdir /tmp/accuracy_smoke --fresh

The real run (hours; after ``examples/ethanol/data`` is fully labelled; 1 thread, in the background, resumable
by re-running the same command)::

    mkdir -p runs
    nohup nice -n 10 .venv/bin/python benchmarks/accuracy.py ethanol=examples/ethanol/data/ethanol.h5 \\
        --budget full --parallel --densnet-config examples/ethanol/model.yaml \\
        --densnet-variant final=examples/ethanol/model_final.yaml:even-tempered-1.7 \\
        --workdir benchmarks/accuracy_work --out benchmarks/accuracy_ethanol.md >> runs/accuracy.log 2>&1 &

(``--workdir benchmarks/accuracy_work``: the work directory is committed between sessions (checkpoints, logs,
state; its dataset snapshot is git-ignored and re-made from the source on resume, which must still hold the
same chunks) so that a run longer than a session resumes in the next one.)

(``--parallel``: both trainings at once, one core each, then the ``--densnet-variant`` trainings at once, and
a model's densnet evaluations (test split, held-out sets) as many at a time as there are cores per ``--threads``;
``--densnet-config YAML``: the densnet settings to use.)
Stop with ``kill PID`` of the python process; the same command resumes. One run per molecule
(``--out benchmarks/accuracy_<molecule>.md``: the report, its ``.json`` numbers and ``_curves.png``);
``python benchmarks/accuracy_summary.py`` gathers the per-molecule JSONs into ``benchmarks/accuracy.md``.

Polythiophene validation (issue 7: train on the 1..6-ring oligomers together, the files of
examples/polythiophene/model.yaml with their density targets refitted to even-tempered-1.7; test the
extrapolation to 8, 10 and 12 rings with the held-out single points of make_extrapolation.sh; all files must share
the level of theory and density basis). examples/polythiophene/make_model.sh makes the refits and runs::

    P=examples/polythiophene
    .venv/bin/python benchmarks/accuracy.py polythiophene=$P/data/1T_etb17.h5,...,$P/data/pt_distorted_etb17.h5 \\
        --heldout 8T=$P/data/8T_extrap_etb17.h5 --heldout 10T=... --heldout 12T=... --budget full --parallel \\
        --densnet-config $P/model.yaml --densnet-variant half=$P/model_half.yaml \\
        --workdir benchmarks/accuracy_work --out benchmarks/polythiophene.md

More in benchmarks/mace/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]

# densnet epochs (density stage, energy stage) and MACE epochs per budget; stage two of MACE starts at 80 %.
BUDGETS: dict[str, dict[str, object]] = {
    "smoke": {"densnet_epochs": (3, 6), "mace_epochs": 6},
    "full": {"densnet_epochs": (100, 200), "mace_epochs": 200},
}

# A small but standard MACE (2 layers, L_max 1 messages, correlation order 3). ScaleShiftMACE: E0s + a learned
# per-atom interaction energy scaled by the RMS force and shifted by the mean training interaction energy per atom
# (the analogue of densnet's energy normalisation).
MACE_HYPERS: dict[str, object] = {
    "model": "ScaleShiftMACE", "num_interactions": 2, "num_channels": 32, "max_L": 1, "max_ell": 3, "correlation": 3,
    "r_max": 5.0, "num_radial_basis": 8, "num_cutoff_basis": 5, "radial_MLP": "[64, 64, 64]",
    "default_dtype": "float64", "batch_size": 4, "valid_batch_size": 10, "lr": 0.01, "weight_decay": 5e-7,
    "ema": True, "ema_decay": 0.99, "amsgrad": True, "loss": "weighted", "energy_weight": 1.0,
    "forces_weight": 100.0, "swa": True, "swa_lr": 1e-3, "swa_energy_weight": 1000.0, "swa_forces_weight": 100.0,
    "scaling": "rms_forces_scaling", "scheduler_patience": 50, "lr_factor": 0.8, "patience": 2048,
    "clip_grad": 10.0, "eval_interval": 1, "error_table": "PerAtomMAE",
}


# ---------------------------------------------------------------------------------------------- helpers

ACTIVE: set[subprocess.Popen] = set()  # running training/evaluation children (stopped on SIGTERM)


class StepState:
    """JSON state of one dataset's run in the work directory (finished steps, CPU seconds, budget)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict = json.loads(path.read_text()) if path.exists() else {}
        self.lock = threading.RLock()  # trainings may run in parallel threads (--parallel)

    def save(self) -> None:
        with self.lock:
            tmp = self.path.with_name(self.path.name + f".tmp{threading.get_ident()}")
            tmp.write_text(json.dumps(self.data, indent=1))
            os.replace(tmp, self.path)


def _proc_cpu_seconds(pid: int) -> float | None:
    """utime + stime + cutime + cstime (s) of a running process from /proc, None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(fields[k]) for k in (11, 12, 13, 14)) / os.sysconf("SC_CLK_TCK")


def run_timed(cmd: list[str], log: Path, env: dict[str, str], state: StepState, key: str) -> None:
    """Run ``cmd`` (output appended to ``log``) and add its CPU and wall seconds to ``state[key]``.

    While it runs, the CPU time read from /proc is saved every 20 s as ``in_flight``, so that a killed run's
    time is still counted when the command is re-run (resume). CPU time = user + system time from ``wait4``.
    """
    with state.lock:
        rec = state.data.setdefault(key, {"cpu_s": 0.0, "wall_s": 0.0, "invocations": 0})
        if rec.get("in_flight"):  # a previous invocation was killed: keep what it had used
            rec["cpu_s"] += rec["in_flight"]["cpu_s"]
            rec["wall_s"] += rec["in_flight"]["wall_s"]
            rec["killed_invocations"] = rec.get("killed_invocations", 0) + 1
            rec.pop("in_flight")
        state.save()
    with state.lock:  # one whole line at a time when both sides run (--parallel)
        sys.stdout.write(f"[accuracy] {' '.join(cmd)}  (log: {log})\n")
        sys.stdout.flush()
    t0 = time.perf_counter()
    with log.open("a") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    ACTIVE.add(proc)
    try:
        last_poll = t0
        while True:  # poll (no blocking wait): the main thread must stay free to handle SIGTERM
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.5)
            if time.perf_counter() - last_poll > 20.0:
                last_poll = time.perf_counter()
                cpu = _proc_cpu_seconds(proc.pid)
                if cpu is not None:
                    with state.lock:
                        rec["in_flight"] = {"cpu_s": cpu, "wall_s": last_poll - t0}
                        state.save()
    except BaseException:  # Ctrl-C, SIGTERM (see main): stop the child too
        proc.terminate()
        proc.wait()
        raise
    finally:
        ACTIVE.discard(proc)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen
    with state.lock:
        rec.pop("in_flight", None)
        rec["cpu_s"] += usage.ru_utime + usage.ru_stime
        rec["wall_s"] += time.perf_counter() - t0
        rec["invocations"] += 1
        state.save()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        raise SystemExit(f"[accuracy] command failed ({code}): {' '.join(cmd)}\n--- tail of {log} ---\n{tail}")


def thread_env(threads: int) -> dict[str, str]:
    """Environment for the training/evaluation subprocesses: ``threads`` BLAS/OpenMP/torch threads."""
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[k] = str(threads)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def machine() -> str:
    """CPU model, cores and Python of this machine."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


# ---------------------------------------------------------------------------------------------- data


def parse_spec(spec: str) -> tuple[str, list[Path]]:
    """``NAME=PATH[,PATH...]`` or ``PATH[,PATH...]`` -> (name, absolute paths); default name: the file stems
    joined by '+'. The name is a folder of the work directory."""
    name, _, paths = spec.rpartition("=")
    srcs = [Path(p.strip()).resolve() for p in paths.split(",") if p.strip()]
    if not srcs:
        raise SystemExit(f"[accuracy] {spec!r}: no dataset file")
    name = name or "+".join(s.stem for s in srcs)
    if not re.fullmatch(r"[\w.+-]+", name):
        raise SystemExit(f"[accuracy] {spec!r}: the name may only hold letters, digits, '_', '.', '+', '-'")
    return name, srcs


def snapshot_dataset(src: Path, dst: Path) -> dict:
    """Copy the index and its completed chunk files (never pending frames or the lock) to ``dst``.

    Chunk files are written once and never rewritten and the index is replaced atomically, so copying the
    index first and then the chunks it lists is consistent while ``densnet label`` is still running.
    Returns ``{"n_frames": labelled frames, "chunks": [...]}``.
    """
    from densnet.dataset import chunk_dir, read_index

    if not src.exists():
        raise SystemExit(f"[accuracy] {src}: no such file")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".copy")
    shutil.copyfile(src, tmp)
    info = read_index(tmp)
    (chunk_dir(dst)).mkdir(parents=True, exist_ok=True)
    for name in info["chunks"]:
        shutil.copyfile(chunk_dir(src) / name, chunk_dir(dst) / name)
    os.replace(tmp, dst)
    return {"chunks": list(info["chunks"])}


def snapshot_paths(srcs: list[Path], folder: Path) -> list[Path]:
    """Where the snapshots of ``srcs`` go in ``folder``: the file's own name (prefixed by its position in the
    list when two of the files share a name)."""
    names = [s.name for s in srcs]
    return [folder / (n if names.count(n) == 1 else f"{i}_{n}") for i, n in enumerate(names)]


def snapshot_files(srcs: list[Path], folder: Path) -> list[dict]:
    """``snapshot_dataset`` of every file of ``srcs`` into ``folder``; ``[{"source", "chunks"}, ...]``."""
    return [{"source": str(s), **snapshot_dataset(s, d)}
            for s, d in zip(srcs, snapshot_paths(srcs, folder), strict=True)]


def load_dataset(paths: list[Path], load_dm: bool = False):
    """``densnet.dataset.load`` of the snapshot files: one merged Dataset, each frame keeping its file's split."""
    from densnet.dataset import load
    from densnet.errors import DensnetError

    try:
        return load([str(p) for p in paths], load_dm=load_dm)
    except DensnetError as exc:
        raise SystemExit(f"[accuracy] cannot load {', '.join(map(str, paths))}: {exc}") from None


def formula(numbers: np.ndarray) -> str:
    """Chemical formula of a frame (ASE's Hill order, as ``Atoms.get_chemical_formula()``)."""
    from ase import Atoms

    return Atoms(numbers=numbers).get_chemical_formula()


def formula_counts(frames: list) -> dict[str, dict[str, int]]:
    """``{formula: {"frames": n, "atoms": atoms per frame}}`` of ``frames``."""
    out: dict[str, dict[str, int]] = {}
    for f in frames:
        rec = out.setdefault(formula(f.numbers), {"frames": 0, "atoms": len(f.numbers)})
        rec["frames"] += 1
    return out


def write_xyz(frames: list, path: Path) -> int:
    """extxyz of ``frames`` for MACE (``REF_energy`` eV, ``REF_forces`` eV/A); returns the number of frames."""
    import ase.io

    from densnet.dataset import to_atoms

    images = []
    for f in frames:
        atoms = to_atoms(f)
        atoms.calc = None
        atoms.info["REF_energy"] = float(f.energy)
        atoms.arrays["REF_forces"] = np.asarray(f.forces, dtype=np.float64)
        if f.weight != 1.0:  # densnet's data_weights: MACE multiplies every loss term of the config by it
            atoms.info["config_weight"] = float(f.weight)
        images.append(atoms)
    ase.io.write(path, images, format="extxyz")
    return len(images)


def export_for_mace(data: list[Path], out: Path, max_train: int | None, weights: list[float] | None = None,
                    fraction: float | None = None) -> dict:
    """train/valid/test extxyz (REF_energy eV, REF_forces eV/A, same splits as densnet) and E0s (eV).

    Uses densnet's own reader (``densnet.train.load_weighted`` of the list of files: the merged dataset densnet
    trains on, each frame with its file's ``data_weights`` entry, written as MACE's ``config_weight``;
    ``to_atoms``). The training frames are those ``densnet train`` takes with ``train_fraction`` and
    ``max_train_frames`` (``densnet.train.select_train_frames``).
    """
    from ase.data import atomic_numbers

    from densnet.errors import DensnetError
    from densnet.train import load_weighted, select_train_frames

    try:
        ds = load_weighted([str(p) for p in data], weights)
    except DensnetError as exc:
        raise SystemExit(f"[accuracy] cannot load {', '.join(map(str, data))}: {exc}") from None
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, fname in (("train", "train.xyz"), ("val", "valid.xyz"), ("test", "test.xyz")):
        frames = ds.split(split)
        if split == "train":
            frames = select_train_frames(frames, fraction, max_train)
        if not frames:
            raise SystemExit(f"[accuracy] {', '.join(map(str, data))}: no frames in the {split} split")
        counts[split] = write_xyz(frames, out / fname)
    e0s = {int(atomic_numbers[el]): float(e) for el, e in sorted(ds.atom_energies.items())}
    (out / "e0s.json").write_text(json.dumps(e0s))
    train, test = select_train_frames(ds.split("train"), fraction, max_train), ds.split("test")
    return {"counts": counts, "e0s": e0s, "baseline": baselines(train, test), "n_labelled": len(ds.frames),
            "level_of_theory": ds.level_of_theory, "test_formulas": formula_counts(test)}


def check_heldout(ds, exp: dict, data: list[Path]) -> None:
    """A held-out set must have the training data's level of theory and free-atom energies (MACE's E0s)."""
    from ase.data import atomic_numbers

    e0s = {str(z): e for z, e in exp["e0s"].items()}  # int keys, or str after a JSON round trip
    bad = sorted(el for el, e in ds.atom_energies.items()
                 if not abs(e0s.get(str(atomic_numbers[el]), np.inf) - e) <= 1e-8)
    if ds.level_of_theory != exp["level_of_theory"] or bad:
        raise SystemExit(f"[accuracy] held-out {', '.join(map(str, data))}: level of theory {ds.level_of_theory} "
                         f"or free-atom energies of {bad} differ from the training data ({exp['level_of_theory']})")


def export_heldout(data: list[Path], xyz: Path, exp: dict) -> dict:
    """All frames of a held-out set (whatever their split label) to ``xyz`` for MACE."""
    ds = load_dataset(data)
    if not ds.frames:
        raise SystemExit(f"[accuracy] held-out {', '.join(map(str, data))}: no labelled frames")
    check_heldout(ds, exp, data)
    return {"n_frames": write_xyz(ds.frames, xyz), "formulas": formula_counts(ds.frames)}


def prepare_heldout(work: Path, name: str, srcs: list[Path], state: StepState) -> dict:
    """Snapshot + export of the held-out set ``name`` (once; a name re-used for other files is refused)."""
    folder = work / "heldout" / name
    rec = state.data.setdefault("heldout", {}).get(name)
    if rec is None:
        folder.mkdir(parents=True, exist_ok=True)
        snap = snapshot_files(srcs, folder / "data")
        rec = {"sources": [str(s) for s in srcs], "snapshot": snap,
               "export": export_heldout(snapshot_paths(srcs, folder / "data"), folder / "heldout.xyz",
                                        state.data["export"])}
        state.data["heldout"][name] = rec
        state.save()
    elif rec["sources"] != [str(s) for s in srcs]:
        raise SystemExit(f"[accuracy] {work}: held-out set {name!r} was made from {rec['sources']}, now "
                         f"{[str(s) for s in srcs]}: give it another name, or use --fresh")
    return {"dir": folder, "paths": snapshot_paths(srcs, folder / "data"), **rec}


# ---------------------------------------------------------------------------------------------- models


def densnet_settings(args: argparse.Namespace, epochs: tuple[int, int], config: str | None = None) -> dict:
    """densnet training settings: ``config`` (default ``--densnet-config``; model, stages, ...; none: densnet's
    defaults) with the budget's density/energy epochs, ``--threads``, ``--seed`` and ``--max-train-frames``
    imposed. A variant's ``config`` (given here) with ``train_fraction`` f < 1 (a learning-curve point) gets
    the budget's epochs / f: about the same number of optimiser steps as the main model, so that the smaller set is
    not also trained less."""
    variant = config is not None
    config = config or args.densnet_config
    cfg = (yaml.safe_load(Path(config).read_text()) or {}) if config else {}
    cfg = {k: v for k, v in cfg.items() if k not in ("data", "output")}
    scale = 1.0 / cfg["train_fraction"] if variant and cfg.get("train_fraction") else 1.0
    stages = cfg.setdefault("stages", {})
    stages.setdefault("density", {})["epochs"] = math.ceil(int(epochs[0]) * scale)
    stages.setdefault("energy", {})["epochs"] = math.ceil(int(epochs[1]) * scale)
    cfg.update(threads=args.threads, seed=args.seed)
    if args.max_train_frames:
        cfg["max_train_frames"] = args.max_train_frames
    if args.train_fraction:
        cfg["train_fraction"] = args.train_fraction
    return cfg


def train_densnet(work: Path, data: list[Path], epochs: tuple[int, int], args: argparse.Namespace,
                  state: StepState, variant: str = "densnet", config: str | None = None) -> Path:
    """``densnet train`` with ``densnet_settings`` (of ``config`` for a variant) on ``data`` (one file, or a list:
    merged, each frame keeping its file's split) in ``work/<variant>``; returns the best model file (validation
    split). CPU time in ``state[<variant>_train]``."""
    run = work / variant
    files: str | list[str] = str(data[0]) if len(data) == 1 else [str(p) for p in data]
    cfg = {"data": files, "output": str(run), **densnet_settings(args, epochs, config)}
    cfg_path = work / f"{variant}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    if not state.data.get(f"{variant}_trained"):
        cmd = [sys.executable, "-m", "densnet.cli", "train", str(cfg_path), "--quiet"]
        if (run / "last.ckpt").exists():
            cmd.append("--resume")
        run_timed(cmd, work / f"{variant}_train.log", thread_env(args.threads), state, f"{variant}_train")
        state.data[f"{variant}_trained"] = True
        state.save()
    return run / "model.ckpt"


def evaluate_densnet(model: Path, data: list[Path], split: str, out: Path, args: argparse.Namespace,
                     state: StepState, key: str) -> dict:
    """``densnet evaluate`` (float64) of the ``split`` frames of ``data`` ("all": every frame, whatever its split
    label) -> ``out`` (skipped if it exists; log ``densnet_eval.log`` beside it): eps_rho (+ floor, SAD), E, F,
    dipole."""
    if not out.exists():
        cmd = [sys.executable, "-m", "densnet.cli", "evaluate", str(model), *map(str, data), "--split", split,
               "--json", str(out), "--quiet"]
        run_timed(cmd, out.parent / "densnet_eval.log", thread_env(args.threads), state, key)
    return json.loads(out.read_text())


def stage_two_start(epochs: int) -> int:
    """First epoch of MACE's stage two (higher energy weight, lower LR): 80 % of the epochs, before the last."""
    return max(1, min(epochs - 1, int(round(0.8 * epochs))))


def mace_bin(args: argparse.Namespace, name: str) -> str:
    path = Path(args.mace_venv) / "bin" / name
    if not path.exists():
        raise SystemExit(f"[accuracy] {path} not found: run `bash benchmarks/mace/setup.sh` (make mace-env)")
    return str(path)


def mace_command(args: argparse.Namespace, work: Path, xyz: Path, epochs: int) -> list[str]:
    """The ``mace_run_train`` command line: MACE_HYPERS, the exported files, the E0s (xyz/e0s.json), epochs."""
    cmd = [mace_bin(args, "mace_run_train"), "--name", "mace", "--work_dir", str(work / "mace"),
           "--train_file", str(xyz / "train.xyz"), "--valid_file", str(xyz / "valid.xyz"),
           "--test_file", str(xyz / "test.xyz"), "--energy_key", "REF_energy", "--forces_key", "REF_forces",
           "--E0s", str(xyz / "e0s.json"),
           "--max_num_epochs", str(epochs), "--start_swa", str(stage_two_start(epochs)),
           "--device", "cpu", "--seed", str(args.seed), "--num_workers", "0", "--plot", "False", "--save_cpu"]
    for k, v in MACE_HYPERS.items():
        if v is True:
            cmd.append(f"--{k}")
        else:
            cmd += [f"--{k}", str(v)]
    return cmd


def train_mace(work: Path, xyz: Path, epochs: int, args: argparse.Namespace, state: StepState) -> Path:
    """Train MACE (resumes from its latest checkpoint); returns the final (stage-two if present) model."""
    run = work / "mace"
    if not state.data.get("mace_trained"):
        cmd = mace_command(args, work, xyz, epochs)
        if (run / "checkpoints").exists() and any((run / "checkpoints").iterdir()):
            cmd.append("--restart_latest")
        run_timed(cmd, work / "mace_train.log", thread_env(args.threads), state, "mace_train")
        state.data["mace_trained"] = True
        state.save()
    for name in ("mace_stagetwo.model", "mace.model"):
        if (run / name).exists():
            return run / name
    raise SystemExit(f"[accuracy] MACE wrote no model in {run}")


def predict_mace(model: Path, configs: Path, pred: Path, args: argparse.Namespace, state: StepState,
                 key: str) -> tuple[list, list]:
    """``mace_eval_configs`` (float64) on ``configs`` -> ``pred`` (skipped if it exists; log ``mace_eval.log``
    beside it); returns (reference Atoms, predicted Atoms with MACE_energy/MACE_forces)."""
    import ase.io

    if not pred.exists():
        tmp = pred.with_name(pred.stem + ".tmp.xyz")
        cmd = [mace_bin(args, "mace_eval_configs"), "--configs", str(configs), "--model", str(model),
               "--output", str(tmp), "--device", "cpu", "--default_dtype", "float64", "--batch_size", "16"]
        run_timed(cmd, pred.parent / "mace_eval.log", thread_env(args.threads), state, key)
        os.replace(tmp, pred)
    ref = ase.io.read(configs, index=":")
    out = ase.io.read(pred, index=":")
    if len(ref) != len(out):
        raise SystemExit(f"[accuracy] {pred}: {len(out)} frames, {configs} has {len(ref)}")
    return ref, out


def mace_errors(ref: list, out: list) -> dict:
    """Energy/force errors of MACE's predictions ``out`` against REF_energy/REF_forces of ``ref``."""
    de = np.array([o.info["MACE_energy"] - r.info["REF_energy"] for r, o in zip(ref, out, strict=True)])
    n_atoms = np.array([len(r) for r in ref])
    df = np.concatenate([(o.arrays["MACE_forces"] - r.arrays["REF_forces"]).ravel()
                         for r, o in zip(ref, out, strict=True)])
    return {"n_frames": len(ref),
            "energy_ev": {"mae": float(np.mean(np.abs(de))), "rmse": float(np.sqrt(np.mean(de**2)))},
            "energy_per_atom_ev": {"mae": float(np.mean(np.abs(de / n_atoms)))},
            "forces_ev_per_a": {"mae": float(np.mean(np.abs(df))), "rmse": float(np.sqrt(np.mean(df**2)))}}


def mace_by_formula(ref: list, out: list) -> dict[str, dict]:
    """``mace_errors`` per chemical formula (``Atoms.get_chemical_formula()``)."""
    groups: dict[str, tuple[list, list]] = {}
    for r, o in zip(ref, out, strict=True):
        rs, os_ = groups.setdefault(r.get_chemical_formula(), ([], []))
        rs.append(r)
        os_.append(o)
    return {f: mace_errors(rs, os_) for f, (rs, os_) in groups.items()}


@contextlib.contextmanager
def limited_threads(n: int):
    """torch, PySCF and (if threadpoolctl is there) BLAS/OpenMP limited to ``n`` threads in this process."""
    import torch
    from pyscf import lib

    old = torch.get_num_threads(), lib.num_threads()
    torch.set_num_threads(n)
    lib.num_threads(n)
    with contextlib.ExitStack() as stack:
        try:
            from threadpoolctl import threadpool_limits

            stack.enter_context(threadpool_limits(limits=n))
        except ImportError:
            pass
        try:
            yield
        finally:
            torch.set_num_threads(old[0])
            lib.num_threads(old[1])


def load_frames(paths: list[Path], split: str):
    """The ``split`` frames ("all": every frame) of ``paths`` with their density matrices, merged; one file is
    read at a time and only its selected frames are kept (memory)."""
    from densnet.dataset import SPLIT_NAMES, merge

    parts = []
    for p in paths:
        ds = load_dataset([p], load_dm=True)
        ds.frames = [f for f in ds.frames if split == "all" or f.split == SPLIT_NAMES.index(split)]
        parts.append(ds)
    return merge(parts, [str(p) for p in paths])


def densnet_by_formula(model_path: Path, es: dict, whole: dict, args: argparse.Namespace) -> dict[str, dict]:
    """densnet's metrics per chemical formula of the evaluation set ``es``, computed in this process with
    ``densnet.evaluate.evaluate`` (the code of ``densnet evaluate``). One formula: the whole-set result (same
    frames). Each formula's result is saved to ``es["groups_json"]`` when done; saved ones are skipped (resume)."""
    formulas = es["formulas"]
    if len(formulas) == 1:
        return {next(iter(formulas)): whole}
    out: Path = es["groups_json"]
    done = json.loads(out.read_text()) if out.exists() else {}
    todo = [f for f in formulas if f not in done]
    if todo:
        import torch

        from densnet import io_model
        from densnet.evaluate import evaluate

        print(f"[accuracy] densnet per formula on {es['name']}: {', '.join(todo)}", flush=True)
        ds = load_frames(es["paths"], es["split"])
        model = io_model.load(model_path, torch.float64)
        with limited_threads(args.threads):
            for f in todo:
                done[f] = evaluate(model, ds, [fr for fr in ds.frames if formula(fr.numbers) == f], progress=False)
                tmp = out.with_name(out.name + ".tmp")
                tmp.write_text(json.dumps(done, indent=1))
                os.replace(tmp, out)
    return done


def densnet_parameters(model: Path) -> int:
    """Number of trainable parameters of a densnet model file (density + energy networks)."""
    from densnet import io_model

    return int(sum(p.numel() for p in io_model.load(model).parameters()))


def mace_parameters(args: argparse.Namespace, model: Path) -> int:
    """Number of parameters of a MACE model file (read in the MACE venv)."""
    py = Path(args.mace_venv) / "bin" / "python"
    code = ("import sys, torch; m = torch.load(sys.argv[1], map_location='cpu', weights_only=False); "
            "print(sum(p.numel() for p in m.parameters()))")
    res = subprocess.run([str(py), "-c", code, str(model)], capture_output=True, text=True, check=True)
    return int(res.stdout.split()[-1])


def mace_version(args: argparse.Namespace) -> str:
    py = Path(args.mace_venv) / "bin" / "python"
    res = subprocess.run([str(py), "-c", "import mace, torch, e3nn; print(mace.__version__, torch.__version__, "
                          "e3nn.__version__)"], capture_output=True, text=True, check=True)
    m, t, e = res.stdout.split()
    return f"mace-torch {m} (torch {t}, e3nn {e}, own venv {rel(args.mace_venv)})"


# ---------------------------------------------------------------------------------------------- one dataset


def open_work(name: str, srcs: list[Path], args: argparse.Namespace, budget: dict) -> tuple[Path, StepState]:
    """The dataset's work directory and state; a run with other settings (budget, seeds, source files, ...) there
    is refused. Held-out sets are not settings: see ``prepare_heldout``."""
    work = (Path(args.workdir).resolve() if args.workdir else ROOT / "runs" / "accuracy") / name
    if args.fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    state = StepState(work / "state.json")
    want = {"budget": budget, "threads": args.threads, "seed": args.seed, "max_train_frames": args.max_train_frames,
            "source": str(srcs[0]) if len(srcs) == 1 else [str(s) for s in srcs],
            "densnet": densnet_settings(args, tuple(budget["densnet_epochs"])), "mace": MACE_HYPERS}
    if args.train_fraction:  # only when given: work directories made before this option stay valid
        want["train_fraction"] = args.train_fraction
    if state.data.get("settings") not in (None, want):
        raise SystemExit(f"[accuracy] {work} holds a run with other settings {state.data['settings']} "
                         f"(now {want}): use --fresh or another --workdir")
    state.data["settings"] = want
    state.data.setdefault("load_start", os.getloadavg()[0])
    state.data.setdefault("started", f"{datetime.datetime.now():%Y-%m-%d %H:%M}")
    state.save()
    return work, state


def prepare_data(work: Path, name: str, srcs: list[Path], state: StepState, args: argparse.Namespace) -> list[Path]:
    """Snapshot the dataset files and export them for MACE (once); returns the snapshot files."""
    data = snapshot_paths(srcs, work / "data")
    if "snapshot" not in state.data:
        state.data["snapshot"] = snapshot_files(srcs, work / "data")
        weights = densnet_settings(args, (0, 0)).get("data_weights")
        state.data["export"] = export_for_mace(data, work / "mace_data", args.max_train_frames, weights,
                                               args.train_fraction)
        state.save()
    elif not all(d.exists() for d in data):  # work directory kept in git without its (regenerable) data copy
        again = snapshot_files(srcs, work / "data")
        if [s["chunks"] for s in again] != [s["chunks"] for s in state.data["snapshot"]]:
            raise SystemExit(f"[accuracy] {work}: the dataset snapshot is missing and {srcs} now holds other "
                             "chunks than the run was started with; use --fresh")
    exp = state.data["export"]
    if "test_formulas" not in exp or exp["baseline"].get("kind") != "composition":  # state of an older version
        from densnet.train import select_train_frames

        ds = load_dataset(data)
        exp["test_formulas"] = formula_counts(ds.split("test"))
        exp["baseline"] = baselines(select_train_frames(ds.split("train"), args.train_fraction,
                                                        args.max_train_frames), ds.split("test"))
        state.save()
    print(f"[accuracy] {name}: frames train {exp['counts']['train']}, val {exp['counts']['val']}, "
          f"test {exp['counts']['test']} (snapshot of {', '.join(map(str, srcs))}, {exp['n_labelled']} labelled)",
          flush=True)
    return data


def eval_sets(work: Path, data: list[Path], heldout: dict[str, dict], state: StepState) -> list[dict]:
    """What both models are evaluated on: the test split, then every held-out set whole (split "all")."""
    sets = [{"name": "test", "paths": data, "split": "test", "formulas": state.data["export"]["test_formulas"],
             "densnet_json": work / "densnet_test.json", "densnet_key": "densnet_eval",
             "xyz": work / "mace_data" / "test.xyz", "mace_pred": work / "mace_test_pred.xyz", "mace_key": "mace_eval",
             "groups_json": work / "densnet_groups_test.json"}]
    for h, rec in heldout.items():
        d = rec["dir"]
        sets.append({"name": h, "paths": rec["paths"], "split": "all", "formulas": rec["export"]["formulas"],
                     "densnet_json": d / "densnet.json", "densnet_key": f"heldout_{h}_densnet_eval",
                     "xyz": d / "heldout.xyz", "mace_pred": d / "mace_pred.xyz", "mace_key": f"heldout_{h}_mace_eval",
                     "groups_json": d / "densnet_groups.json"})
    return sets


def densnet_side(work: Path, sets: list[dict], epochs: tuple[int, int], args: argparse.Namespace,
                 state: StepState) -> tuple[Path, dict, dict]:
    """Train densnet, evaluate it on every set: (model file, {set name: metrics}, {variant: (model file,
    {set name: metrics}, {set name: dataset files})}); the variants (``--densnet-variant``) are trained after it,
    one after the other, or all at once with --parallel (one core each); a model's evaluations of the sets run
    cpu_count // --threads at a time with --parallel."""
    cores = max(1, (os.cpu_count() or 1) // args.threads)  # evaluations at a time with --parallel

    def evaluate_all(mfile: Path, paths: dict[str, list[Path]], v: str = "") -> dict:
        """{set name: metrics} of the model file ``mfile`` (variant ``v``: its own output files and CPU keys)."""
        return dict(zip([es["name"] for es in sets], run_all([functools.partial(
            evaluate_densnet, mfile, paths[es["name"]], es["split"],
            es["densnet_json"].with_name(f"{v}_{es['densnet_json'].name}" if v else es["densnet_json"].name),
            args, state, f"{es['densnet_key']}_{v}" if v else es["densnet_key"]) for es in sets],
            args.parallel, cores), strict=True))

    model = train_densnet(work, sets[0]["paths"], epochs, args, state)
    dens = evaluate_all(model, {es["name"]: es["paths"] for es in sets})
    specs = variant_specs(args)
    paths = {name: {es["name"]: refit_paths(work, es["paths"], basis, args, state) if basis else es["paths"]
                    for es in sets} for name, _, basis in specs}
    vmodels = run_all([functools.partial(train_densnet, work, paths[name]["test"], epochs, args, state,
                                         f"densnet-{name}", config) for name, config, _ in specs], args.parallel)
    variants = {}
    for (name, _, _), vmodel in zip(specs, vmodels, strict=True):
        variants[name] = (vmodel, evaluate_all(vmodel, paths[name], f"densnet-{name}"), paths[name])
    return model, dens, variants


def refit_paths(work: Path, paths: list[Path], basis: str, args: argparse.Namespace, state: StepState) -> list[Path]:
    """The dataset files ``paths`` with their density targets refitted to ``basis`` (``densnet refit``: the same
    frames, splits, energies and forces; no DFT) in ``work/data_<basis>/``, made once (resumable, git-ignored
    like the snapshot: re-made from it). CPU time in ``state["refit_<basis>"]``."""
    out = []
    for src in paths:
        dst = work / f"data_{basis}" / src.name
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, "-m", "densnet.cli", "refit", str(src), "-o", str(dst),
                   "--density-basis", basis, "--quiet"]
            run_timed(cmd, dst.parent / "refit.log", thread_env(args.threads), state, f"refit_{basis}")
        out.append(dst)
    return out


def variant_specs(args: argparse.Namespace) -> list[tuple[str, str, str | None]]:
    """``--densnet-variant NAME=YAML[:BASIS]`` as (name, config path, density basis or None); names: letters,
    digits, '_', '-'."""
    out = []
    for spec in args.densnet_variant:
        name, sep, rest = spec.partition("=")
        config, _, basis = rest.partition(":")
        if not sep or not re.fullmatch(r"[\w-]+", name) or not Path(config).is_file() or ":" in basis:
            raise SystemExit(f"[accuracy] --densnet-variant {spec!r}: expected NAME=existing.yaml[:DENSITY_BASIS]")
        out.append((name, config, basis or None))
    return out


def mace_side(work: Path, sets: list[dict], epochs: int, args: argparse.Namespace,
              state: StepState) -> tuple[Path, dict]:
    """Train MACE, predict every set: (model file, {set name: (reference Atoms, predicted Atoms)})."""
    model = train_mace(work, work / "mace_data", epochs, args, state)
    return model, {es["name"]: predict_mace(model, es["xyz"], es["mace_pred"], args, state, es["mace_key"])
                   for es in sets}


def run_all(tasks: list, parallel: bool, workers: int | None = None) -> list:
    """The results of the callables ``tasks``: one after the other, or in threads (--parallel; at most ``workers``
    at a time, default all); when one fails, the tasks not started are dropped, the others' child processes are
    stopped and the failure is raised."""
    if not parallel or len(tasks) < 2 or workers == 1:
        return [t() for t in tasks]
    with ThreadPoolExecutor(min(len(tasks), workers or len(tasks))) as pool:
        futures = [pool.submit(t) for t in tasks]
        while not all(f.done() for f in futures):  # wake up often: signals are handled in the main thread
            time.sleep(0.5)
            if any(f.done() and f.exception() for f in futures):
                for f in futures:
                    f.cancel()
                for proc in list(ACTIVE):
                    proc.terminate()
        return [f.result() for f in futures]


def run_both(first, second, parallel: bool) -> tuple:
    """``first()`` and ``second()``, one after the other or in two threads (--parallel)."""
    return tuple(run_all([first, second], parallel))


def composition(sets: list[dict], dens: dict, preds: dict, model: Path, variants: dict,
                args: argparse.Namespace) -> list[dict]:
    """One row per (set, chemical formula), ordered by number of atoms (then test split first); each row has
    densnet's, MACE's and every variant's metrics (``variants``: as returned by ``densnet_side``)."""
    rows = []
    for k, es in enumerate(sets):
        d = densnet_by_formula(model, es, dens[es["name"]], args)
        m = mace_by_formula(*preds[es["name"]])
        v = {name: densnet_by_formula(vmodel, {**es, "paths": paths[es["name"]], "groups_json": es["groups_json"]
                                               .with_name(f"densnet-{name}_{es['groups_json'].name}")},
                                      vdens[es["name"]], args)
             for name, (vmodel, vdens, paths) in variants.items()}
        rows += [{"set": es["name"], "formula": f, "atoms": c["atoms"], "frames": c["frames"], "order": k,
                  "densnet": d[f], "mace": m[f], "variants": {name: g[f] for name, g in v.items()}}
                 for f, c in es["formulas"].items()]
    return sorted(rows, key=lambda r: (r["atoms"], r["order"]))


def run_dataset(name: str, srcs: list[Path], heldout_specs: list[tuple[str, list[Path]]], args: argparse.Namespace,
                budget: dict) -> dict:
    """Snapshot, export, train both models, evaluate both (test split, held-out sets, per formula); returns
    everything the report needs."""
    work, state = open_work(name, srcs, args, budget)
    data = prepare_data(work, name, srcs, state, args)
    heldout = {h: prepare_heldout(work, h, hs, state) for h, hs in heldout_specs}
    sets = eval_sets(work, data, heldout, state)
    d_epochs = tuple(budget["densnet_epochs"])
    m_epochs = int(budget["mace_epochs"])
    check_variants(state, args, d_epochs)
    (model, dens, variants), (mace_model, preds) = run_both(
        lambda: densnet_side(work, sets, d_epochs, args, state),
        lambda: mace_side(work, sets, m_epochs, args, state), args.parallel)
    rows = composition(sets, dens, preds, model, variants, args) if len(sets[0]["formulas"]) > 1 or heldout else []
    with state.lock:
        now = f"{datetime.datetime.now():%Y-%m-%d %H:%M}"
        if "finished" not in state.data:
            state.data["load_end"] = os.getloadavg()[0]
            state.data["finished"] = now
        for vname in variants:  # variants may be added to a finished run: their own end time
            state.data.setdefault("variants_finished", {}).setdefault(vname, now)
        state.save()
    return {"name": name, "sources": [str(s) for s in srcs], "work": str(work), "state": state.data,
            "densnet": dens["test"], "mace": mace_errors(*preds["test"]),
            "heldout": {h: {"sources": rec["sources"], "n_frames": rec["export"]["n_frames"], "densnet": dens[h],
                            "mace": mace_errors(*preds[h])} for h, rec in heldout.items()},
            "composition": rows, "mace_model": mace_model.name, "densnet_params": densnet_parameters(model),
            "mace_params": mace_parameters(args, mace_model),
            "variants": {name: {"test": d["test"], "params": densnet_parameters(m),
                                "settings": state.data["variants"][name]} for name, (m, d, _) in variants.items()}}


def check_variants(state: StepState, args: argparse.Namespace, epochs: tuple[int, int]) -> None:
    """Variants are not settings of the run (MACE and the main densnet do not depend on them; they can be added
    later), but a variant NAME trained with other settings is refused."""
    with state.lock:
        known = state.data.setdefault("variants", {})
        for name, config, basis in variant_specs(args):
            want = densnet_settings(args, epochs, config)
            if basis:
                want["density_basis"] = basis
            if known.get(name) not in (None, want):
                raise SystemExit(f"[accuracy] densnet variant {name!r} was trained with other settings "
                                 f"{known[name]} (now {want}): use another name")
            known[name] = want
        state.save()


# ---------------------------------------------------------------------------------------------- report


def _f(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def baselines(train: list, test: list) -> dict:
    """Energy of the composition alone (per-element energies fitted to the training energies by least squares;
    the mean training energy for one composition) and zero forces: their MAE on ``test``."""
    elements = sorted({int(z) for f in train for z in f.numbers})

    def counts(frames):
        return np.array([[np.sum(f.numbers == z) for z in elements] for f in frames], dtype=float)

    per_element, *_ = np.linalg.lstsq(counts(train), np.array([f.energy for f in train]), rcond=None)
    n_atoms = np.array([len(f.numbers) for f in test])
    de = np.abs(np.array([f.energy for f in test]) - counts(test) @ per_element)
    return {"kind": "composition", "energy_mae_ev": float(np.mean(de)),
            "energy_mae_mev_per_atom": float(np.mean(de / n_atoms) * 1e3),
            "force_mae": float(np.mean(np.concatenate([np.abs(f.forces).ravel() for f in test])))}


def table(r: dict) -> str:
    """Markdown table of one molecule: densnet, its variants (``--densnet-variant``), MACE, baselines."""
    m, s = r["mace"], r["state"]
    b = s["export"]["baseline"]
    models = [("densnet", r["densnet"], s["densnet_train"], r["densnet_params"])]
    models += [(f"densnet {n}", v["test"], s[f"densnet-{n}_train"], v["params"]) for n, v in r["variants"].items()]

    def row(name: str, f, mace: str, base: str) -> str:
        return f"| {name} | {' | '.join(f(d, t, p) for _, d, t, p in models)} | {mace} | {base} |"

    rho = r["densnet"].get("density_percent", {})
    floors = f"SAD only {_f(rho.get('eps_rho_sad'), '.3f')}"
    lines = [f"| quantity | {' | '.join(n for n, *_ in models)} | MACE | baseline |",
             "|" + "---|" * (len(models) + 3),
             row("eps_rho (% of electrons) (fitting floor of its basis)", lambda d, t, p: _rho(d), "-", floors),
             row("energy MAE (eV/molecule)", lambda d, t, p: _f(d["energy_ev"]["mae"], ".4f"),
                 _f(m["energy_ev"]["mae"], ".4f"), f"composition fit {b['energy_mae_ev']:.4f}"),
             row("energy MAE (meV/atom)", lambda d, t, p: _f(d["energy_per_atom_ev"]["mae"] * 1e3, ".2f"),
                 _f(m["energy_per_atom_ev"]["mae"] * 1e3, ".2f"),
                 f"composition fit {b['energy_mae_mev_per_atom']:.2f}"),
             row("energy RMSE (eV/molecule)", lambda d, t, p: _f(d["energy_ev"]["rmse"], ".4f"),
                 _f(m["energy_ev"]["rmse"], ".4f"), ""),
             row("force MAE (eV/A)", lambda d, t, p: _f(d["forces_ev_per_a"]["mae"], ".4f"),
                 _f(m["forces_ev_per_a"]["mae"], ".4f"), f"zero forces {b['force_mae']:.4f}"),
             row("force RMSE (eV/A)", lambda d, t, p: _f(d["forces_ev_per_a"]["rmse"], ".4f"),
                 _f(m["forces_ev_per_a"]["rmse"], ".4f"), ""),
             row("dipole MAE (D, per component)", lambda d, t, p: _f(d.get("dipole_debye", {}).get("mae"), ".4f"),
                 "-", ""),
             row("training CPU time (s)", lambda d, t, p: f"{t['cpu_s']:.0f}", f"{s['mace_train']['cpu_s']:.0f}", ""),
             row("training wall time (s)", lambda d, t, p: f"{t['wall_s']:.0f}", f"{s['mace_train']['wall_s']:.0f}",
                 ""),
             row("parameters", lambda d, t, p: f"{p:,}", f"{r['mace_params']:,}", "")]
    return "\n".join(lines)


def _mae(m: dict, key: str, scale: float = 1.0) -> float | None:
    v = m.get(key, {}).get("mae")
    return None if v is None else v * scale


def _rho(m: dict) -> str:
    rho = m.get("density_percent", {})
    if "eps_rho_model" not in rho:
        return "-"
    return f"{rho['eps_rho_model']:.3f} (floor {_f(rho.get('eps_rho_fit_floor'), '.3f')})"


def composition_table(rows: list[dict]) -> str:
    """Markdown table: one row per (set, chemical formula), ordered by number of atoms; the variants'
    (``--densnet-variant``) energy and force MAE after MACE's."""
    names = list(rows[0].get("variants", {})) if rows else []
    head = ("| set | formula | atoms | frames | energy MAE densnet (meV/atom) | energy MAE MACE (meV/atom) | "
            "force MAE densnet (eV/A) | force MAE MACE (eV/A) | "
            + "".join(f"energy MAE densnet {n} (meV/atom) | force MAE densnet {n} (eV/A) | " for n in names)
            + "dipole MAE densnet (D) | eps_rho densnet (%) (fitting floor) |")
    lines = [head, "|" + "---|" * (10 + 2 * len(names))]
    for r in rows:
        d, m = r["densnet"], r["mace"]
        var = "".join(f"{_f(_mae(v, 'energy_per_atom_ev', 1e3), '.2f')} | {_f(_mae(v, 'forces_ev_per_a'), '.4f')} | "
                      for v in (r["variants"][n] for n in names))
        lines.append(
            f"| {r['set']} | {r['formula']} | {r['atoms']} | {r['frames']} | "
            f"{_f(_mae(d, 'energy_per_atom_ev', 1e3), '.2f')} | {_f(_mae(m, 'energy_per_atom_ev', 1e3), '.2f')} | "
            f"{_f(_mae(d, 'forces_ev_per_a'), '.4f')} | {_f(_mae(m, 'forces_ev_per_a'), '.4f')} | {var}"
            f"{_f(_mae(d, 'dipole_debye'), '.4f')} | {_rho(d)} |")
    return "\n".join(lines)


def composition_section(r: dict) -> str:
    """Held-out sets and the per-composition table of one dataset run ('' when there is no breakdown)."""
    if not r["composition"]:
        return ""
    held = "; ".join(f"`{h}`: {', '.join(f'`{rel(p)}`' for p in v['sources'])} ({v['n_frames']} frames)"
                     for h, v in r["heldout"].items())
    text = (f"### {r['name']}: per composition\n\n"
            "Set `test` = the held-out test split above (in distribution)"
            + (f"; held-out sets, never trained on and evaluated whole (every frame, whatever its split label): "
               f"{held}" if held else "")
            + ". MAE per chemical formula (densnet: `densnet.evaluate.evaluate` on the formula's frames; MACE: its "
            "predictions grouped by formula); dipole per component; eps_rho as defined above.\n\n")
    return text + composition_table(r["composition"]) + "\n"


def variant_line(name: str, v: dict, state: dict) -> str:
    """The report's sentence on one ``--densnet-variant``."""
    basis = v["settings"].get("density_basis")
    refit = state.get(f"refit_{basis}") if basis else None
    how = (f"; density targets refitted to {basis} from the stored density matrices (`densnet refit`, "
           f"{refit['cpu_s']:.0f} CPU s, not counted in the training time)" if refit else "")
    frac = v["settings"].get("train_fraction")
    same = (f"an evenly spaced fraction {frac:g} of the training frames, epochs / {frac:g}: about the same "
            "optimiser steps" if frac and frac < 1 else "same epochs")
    fin = state.get("variants_finished", {}).get(name)
    when = f", its evaluation finished {fin}" if fin else ""
    return (f"\nVariant `densnet {name}` (same split, {same}, trained after the main densnet model{when}{how}): "
            f"settings `{json.dumps(v['settings'])}`.\n")


def rel(path: str | Path) -> str:
    """``path`` relative to the repository if it lies inside it."""
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def report(results: list[dict], args: argparse.Namespace, budget: dict, cmd: str) -> str:
    """The whole Markdown report (times and loads from the work directories' state: kept across resumes)."""
    started = min(r["state"]["started"] for r in results)
    finished = max(r["state"]["finished"] for r in results)
    load0 = results[0]["state"]["load_start"]
    load1 = results[-1]["state"]["load_end"]
    how = "at the same time (--parallel)" if args.parallel else "one after the other"
    de, me = budget["densnet_epochs"], budget["mace_epochs"]
    hyp = ", ".join(f"{k} {v}" for k, v in MACE_HYPERS.items())
    parts = []
    if args.budget == "smoke" or args.title:
        n = " + ".join(str(r["state"]["export"]["n_labelled"]) for r in results)
        smoke = f"SMOKE TEST of the accuracy pipeline ({n} frames, tiny budget): not a result"
        parts.append(f"# {args.title or smoke}\n")
        if not args.title:
            parts.append("This only shows that the whole path (export, both trainings, both evaluations, report) runs "
                         "end to end. The numbers come from a few epochs on a few frames and say nothing about the "
                         "accuracy of either model; the real comparison is `benchmarks/accuracy.md` (budget `full`, "
                         "see benchmarks/mace/README.md).\n")
    else:
        sets = "test split and held-out sets" if args.heldout else "test split"
        parts.append(f"# Accuracy on the held-out {sets}: densnet vs MACE vs the SAD-only baseline\n")
    parts.append(
        f"Made by `benchmarks/accuracy.py`. Command: `{cmd}`  \n"
        f"Started {started}, finished {finished} (first start and last end over resumed invocations). "
        f"Machine of the invocation that wrote this report (resumed steps may have run on others): {machine()}; "
        f"load average {load0:.1f} at the start, {load1:.1f} at the end (the machine is shared: "
        "wall times depend on the load, CPU times much less).\n\n"
        f"**Budget `{args.budget}`** (same training frames for both, {args.threads} torch/BLAS thread(s) each, run "
        f"{how}, seed {args.seed}): densnet {de[0]} density + {de[1]} energy epochs "
        f"(`densnet train`, model selection and early stopping on the validation split; settings "
        f"`{json.dumps(densnet_settings(args, tuple(de)))}` on top of the defaults of python/densnet/train.py and "
        "python/densnet/model/network.py (default model: cutoff 4 A, 2 density + 2 energy layers)); "
        f"MACE {me} epochs (stage two from epoch "
        f"{stage_two_start(me)}). Training CPU time = user + system seconds of the whole training "
        "command (MACE's includes its final evaluation and model compilation).\n\n"
        f"**MACE**: {mace_version(args)}, trained with `mace_run_train` on energies + forces of the same training "
        "split (validation split for model selection), E0s = the dataset's free-atom UKS energies at the reference "
        f"level (the same reference densnet uses). Hyperparameters: {hyp}. Final model: stage two if present.\n\n"
        "**Definitions** (DESIGN.md, Metrics): eps_rho = 100 int |rho - rho_KS| dr / N_el on a level-3 PySCF grid "
        "against the exact Kohn-Sham density (stored AO density matrix); fitting floor = the same for the stored "
        "target coefficients (the best the density basis can do); SAD only = the superposition of free-atom "
        "densities densnet starts from. MAE over test frames (energies) and force components. Dipole: densnet's "
        "predicted density gives it; MACE predicts none ('-'). Baselines: the energy of the composition alone "
        "(per-element energies fitted to the training energies by least squares; for one molecule the mean training "
        "energy) and zero forces.\n")
    for r in results:
        s = r["state"]
        c = s["export"]["counts"]
        lot = s["export"]["level_of_theory"]
        parts.append(
            f"## {r['name']}\n\nData: {', '.join(f'`{rel(x)}`' for x in r['sources'])} (snapshot of "
            f"{s['export']['n_labelled']} labelled frames{' in all' if len(r['sources']) > 1 else ''}; "
            f"level of theory {lot.get('xc', '?').upper()}/{lot.get('basis', '?')}, density basis "
            f"{lot.get('density_basis', '?')}). Frames: train {c['train']}, validation {c['val']}, test {c['test']} "
            f"(split by trajectory at labelling time). Work directory `{rel(r['work'])}`; MACE model "
            f"`{r['mace_model']}`."
            + (f" Resumed: densnet training {s['densnet_train']['invocations']} invocation(s), MACE "
               f"{s['mace_train']['invocations']}." if max(s['densnet_train']['invocations'],
                                                             s['mace_train']['invocations']) > 1 else "")
            + "\n\n" + table(r) + "\n"
            + "".join(variant_line(n, v, s) for n, v in r["variants"].items()))
        parts.append(composition_section(r))
    return "\n".join(parts)


def learning_curves(work: Path) -> dict[str, tuple[list[int], list[float]]]:
    """Validation force MAE (meV/A) per epoch of every training in a dataset's work directory: densnet (energy
    stage, ``<run>/log.csv``) and its variants, MACE (``mace_train.log``; after a resume the re-run epochs
    replace the earlier lines)."""
    curves: dict[str, tuple[list[int], list[float]]] = {}
    for log in sorted(work.glob("densnet*/log.csv")):
        import csv

        with log.open() as fh:
            rows = [r for r in csv.DictReader(fh) if r["stage"] == "energy" and r["val_f_mae"]]
        if rows:
            name = "densnet" + log.parent.name[len("densnet"):].replace("-", " ")
            curves[name] = ([int(r["epoch"]) for r in rows], [1e3 * float(r["val_f_mae"]) for r in rows])
    mace_log = work / "mace_train.log"
    if mace_log.exists():
        by_epoch: dict[int, float] = {}
        for m in re.finditer(r"Epoch (\d+):.*?MAE_F=\s*([0-9.]+) meV", mace_log.read_text()):
            by_epoch[int(m.group(1))] = float(m.group(2))
        if by_epoch:
            curves["MACE"] = (sorted(by_epoch), [by_epoch[k] for k in sorted(by_epoch)])
    return curves


def plot_learning_curves(works: list[tuple[str, Path]], out: Path) -> Path | None:
    """PNG of the validation force MAE per epoch (one panel per dataset); None when there is nothing yet."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = [(name, learning_curves(w)) for name, w in works]
    data = [(n, c) for n, c in data if c]
    if not data:
        return None
    fig, axes = plt.subplots(1, len(data), figsize=(5.5 * len(data), 4), squeeze=False)
    for ax, (name, curves) in zip(axes[0], data, strict=True):
        for label, (x, y) in curves.items():
            ax.plot(x, y, label=label)
        ax.set_yscale("log")
        ax.set_xlabel("epoch (densnet: energy stage)")
        ax.set_ylabel("validation force MAE (meV/A)")
        ax.set_title(name)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _terminate(signum: int, frame: object) -> None:
    for proc in list(ACTIVE):
        proc.terminate()
    raise SystemExit(f"[accuracy] stopped by signal {signum}; re-run the same command to resume")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("datasets", nargs="+", help="densnet HDF5 datasets, each as PATH[,PATH...] or NAME=PATH[,PATH...] "
                   "(several files: trained on together, each frame keeping its file's split; name: the work folder)")
    p.add_argument("--heldout", action="append", default=[], metavar="NAME=PATH[,PATH...]",
                   help="a dataset never trained on, evaluated whole by both models (repeatable)")
    p.add_argument("--out", default="benchmarks/accuracy_report.md",
                   help="Markdown report (its numbers also go to the same path with .json, unless --json)")
    p.add_argument("--budget", choices=sorted(BUDGETS), default="full")
    p.add_argument("--densnet-variant", action="append", default=[], metavar="NAME=YAML[:BASIS]",
                   help="another densnet configuration trained on the same split with the same budget, after the "
                   "main one (repeatable; can be added to a finished run: MACE is not retrained); with BASIS, on "
                   "the same frames with density targets refitted to that density basis (densnet refit)")
    p.add_argument("--densnet-epochs", help="DENSITY,ENERGY epochs (overrides the budget's)")
    p.add_argument("--mace-epochs", type=int, help="MACE epochs (overrides the budget's)")
    p.add_argument("--densnet-config", help="densnet training YAML (model, stages, lr, ...; its data/output are "
                   "ignored, the budget's epochs win); default: densnet's defaults")
    p.add_argument("--max-train-frames", type=int, help="use only the first N training frames (both models)")
    p.add_argument("--train-fraction", type=float, help="use an evenly spaced fraction (0-1] of the training frames "
                   "(both models; learning curves: e.g. 0.5 = every 2nd frame of every file)")
    p.add_argument("--threads", type=int, default=1, help="torch/BLAS threads of each training (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--parallel", action="store_true",
                   help="train densnet and MACE at the same time (halves the training wall time on 2 free cores), "
                   "then the variants at the same time, and run a model's evaluations cpu_count // --threads at a "
                   "time")
    p.add_argument("--workdir", help="work directory (default runs/accuracy; one subfolder per dataset)")
    p.add_argument("--fresh", action="store_true", help="delete the dataset's work directory first")
    p.add_argument("--mace-venv", default=str(ROOT / ".venv-mace"))
    p.add_argument("--title", help="report heading (default depends on the budget)")
    p.add_argument("--json", help="write all numbers here (default: --out with .json)")
    args = p.parse_args()
    budget = dict(BUDGETS[args.budget])
    if args.densnet_epochs:
        budget["densnet_epochs"] = tuple(int(x) for x in args.densnet_epochs.split(","))
    if args.mace_epochs:
        budget["mace_epochs"] = args.mace_epochs
    budget["densnet_epochs"] = list(budget["densnet_epochs"])  # type: ignore[arg-type]
    signal.signal(signal.SIGTERM, _terminate)  # `kill PID` stops the training child too (resume later)
    cmd = " ".join(["python benchmarks/accuracy.py", *sys.argv[1:]]).replace(f"{ROOT}/", "")  # repo-relative
    results = []
    heldout = [parse_spec(h) for h in args.heldout]
    names = [h for h, _ in heldout]
    if "test" in names or len(set(names)) != len(names):
        raise SystemExit(f"[accuracy] --heldout names must be unique and not 'test': {names}")
    for spec in args.datasets:
        results.append(run_dataset(*parse_spec(spec), heldout, args, budget))
    text = report(results, args, budget, cmd)
    png = plot_learning_curves([(r["name"], Path(r["work"])) for r in results],
                               Path(args.out).with_name(Path(args.out).stem + "_curves.png"))
    if png is not None:
        text += (f"\nValidation force MAE per epoch of every training (densnet: its energy stage; MACE: its "
                 f"validation line per epoch): ![learning curves]({png.name})\n")
    Path(args.out).write_text(text)
    Path(args.json or Path(args.out).with_suffix(".json")).write_text(json.dumps(results, indent=1, default=str))
    print(text)


if __name__ == "__main__":
    main()

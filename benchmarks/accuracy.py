"""Accuracy benchmark (issue 6, item 3): densnet vs MACE vs the SAD-only baseline on the held-out test split.

For each dataset (a densnet HDF5 from ``densnet label``) this script, in one run and with one stated budget:

1. snapshots the dataset (index + completed chunks) into the work directory, so that both models see exactly
   the same frames even while labelling goes on, and exports the SAME train/val/test splits to extxyz for MACE
   through densnet's API (``REF_energy`` eV, ``REF_forces`` eV/A) plus the E0s = the dataset's free-atom
   energies at the reference level (the same per-element reference densnet's energy normalisation uses);
2. trains densnet (``densnet train``: density then energy stage, default model) and MACE (``mace_run_train``
   from ``.venv-mace``, hyperparameters in ``MACE_HYPERS``) on the same training frames, validation split for
   early stopping / model selection, with ``--threads`` torch threads each, one after the other;
3. evaluates both on the test split: densnet with ``densnet evaluate`` (eps_rho against the exact KS density,
   its fitting floor and the SAD-only error; E, F, dipole), MACE with ``mace_eval_configs`` (E, F);
4. writes a Markdown report: eps_rho (%), energy MAE (eV/molecule and meV/atom), force MAE (eV/A), dipole MAE
   (D per component; MACE predicts none), the CPU time of each training, command, date, machine and load.

Budget (``--budget``): ``smoke`` (minutes: proves the pipeline) or ``full`` (hours: the real run); both set
the epochs of each model, overridable with ``--densnet-epochs DENSITY,ENERGY`` and ``--mace-epochs N``.
CPU time = user + system time of the whole training command (for MACE including its own final evaluation and
model compilation), summed over resumed invocations.

Resuming: everything lives in ``--workdir`` (default ``runs/accuracy/<name>``, git-ignored). Re-running the same
command after a kill continues: finished steps are skipped, densnet resumes exactly from ``last.ckpt``
(``densnet train --resume``), MACE from its latest (best-so-far) checkpoint (``--restart_latest``). A different
budget or dataset snapshot in an existing work directory is refused (``--fresh`` starts over).

Setup: ``bash benchmarks/mace/setup.sh`` (or ``make mace-env``) creates ``.venv-mace``.

Smoke test of the pipeline (minutes; on the shipped 60-frame set; NOT a result)::

    nice -n 10 .venv/bin/python benchmarks/accuracy.py examples/ethanol/small.h5 --budget smoke --parallel \\
        --out benchmarks/accuracy_smoke.md --workdir /tmp/accuracy_smoke --fresh

The real run (hours; after ``examples/ethanol/data`` is fully labelled; 1 thread, in the background, resumable
by re-running the same command)::

    mkdir -p runs
    nohup nice -n 10 .venv/bin/python benchmarks/accuracy.py ethanol=examples/ethanol/data/ethanol.h5 \\
        --budget full --parallel --out benchmarks/accuracy.md --json runs/accuracy.json > runs/accuracy.log 2>&1 &

(``--parallel``: both trainings at once, one core each; ``--densnet-config YAML``: the densnet settings to use.)
Stop with ``kill PID`` of the python process; the same command resumes. Add ``ethanethiol=...h5
resorcinol=...h5`` when those datasets exist (one table per molecule). More in benchmarks/mace/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
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


def snapshot_dataset(src: Path, dst: Path) -> dict:
    """Copy the index and its completed chunk files (never pending frames or the lock) to ``dst``.

    Chunk files are written once and never rewritten and the index is replaced atomically, so copying the
    index first and then the chunks it lists is consistent while ``densnet label`` is still running.
    Returns ``{"n_frames": labelled frames, "chunks": [...]}``.
    """
    from densnet.dataset import chunk_dir, read_index

    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".copy")
    shutil.copyfile(src, tmp)
    info = read_index(tmp)
    (chunk_dir(dst)).mkdir(parents=True, exist_ok=True)
    for name in info["chunks"]:
        shutil.copyfile(chunk_dir(src) / name, chunk_dir(dst) / name)
    os.replace(tmp, dst)
    return {"chunks": list(info["chunks"])}


def export_for_mace(data: Path, out: Path, max_train: int | None) -> dict:
    """train/valid/test extxyz (REF_energy eV, REF_forces eV/A, same splits as densnet) and E0s (eV).

    Uses densnet's own reader (``densnet.dataset.load_h5``, ``to_atoms``). The training frames are the first
    ``max_train`` of the train split, exactly what ``densnet train`` takes with ``max_train_frames``.
    """
    import ase.io
    from ase.data import atomic_numbers

    from densnet.dataset import load_h5, to_atoms

    ds = load_h5(data, load_dm=False)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, fname in (("train", "train.xyz"), ("val", "valid.xyz"), ("test", "test.xyz")):
        frames = ds.split(split)
        if split == "train":
            frames = frames[:max_train]
        images = []
        for f in frames:
            atoms = to_atoms(f)
            atoms.calc = None
            atoms.info["REF_energy"] = float(f.energy)
            atoms.arrays["REF_forces"] = np.asarray(f.forces, dtype=np.float64)
            images.append(atoms)
        if not images:
            raise SystemExit(f"[accuracy] {data}: no frames in the {split} split")
        ase.io.write(out / fname, images, format="extxyz")
        counts[split] = len(images)
    e0s = {int(atomic_numbers[el]): float(e) for el, e in sorted(ds.atom_energies.items())}
    (out / "e0s.json").write_text(json.dumps(e0s))
    train, test = ds.split("train")[:max_train], ds.split("test")
    e_mean = float(np.mean([f.energy for f in train]))
    n_atoms = np.array([len(f.numbers) for f in test])
    de = np.array([abs(f.energy - e_mean) for f in test])
    baseline = {"energy_mae_ev": float(np.mean(de)), "energy_mae_mev_per_atom": float(np.mean(de / n_atoms) * 1e3),
                "force_mae": float(np.mean(np.concatenate([np.abs(f.forces).ravel() for f in test])))}
    return {"counts": counts, "e0s": e0s, "baseline": baseline, "n_labelled": len(ds.frames),
            "level_of_theory": ds.level_of_theory}


# ---------------------------------------------------------------------------------------------- models


def densnet_settings(args: argparse.Namespace, epochs: tuple[int, int]) -> dict:
    """densnet training settings: ``--densnet-config`` (model, stages, ...; default: densnet's defaults) with the
    budget's density/energy epochs, ``--threads``, ``--seed`` and ``--max-train-frames`` imposed."""
    cfg = (yaml.safe_load(Path(args.densnet_config).read_text()) or {}) if args.densnet_config else {}
    cfg = {k: v for k, v in cfg.items() if k not in ("data", "output")}
    stages = cfg.setdefault("stages", {})
    stages.setdefault("density", {})["epochs"] = int(epochs[0])
    stages.setdefault("energy", {})["epochs"] = int(epochs[1])
    cfg.update(threads=args.threads, seed=args.seed)
    if args.max_train_frames:
        cfg["max_train_frames"] = args.max_train_frames
    return cfg


def train_densnet(work: Path, data: Path, epochs: tuple[int, int], args: argparse.Namespace, state: StepState) -> Path:
    """``densnet train`` with ``densnet_settings``; returns the best model file (validation split)."""
    run = work / "densnet"
    cfg = {"data": str(data), "output": str(run), **densnet_settings(args, epochs)}
    cfg_path = work / "densnet.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    if not state.data.get("densnet_trained"):
        cmd = [sys.executable, "-m", "densnet.cli", "train", str(cfg_path), "--quiet"]
        if (run / "last.ckpt").exists():
            cmd.append("--resume")
        run_timed(cmd, work / "densnet_train.log", thread_env(args.threads), state, "densnet_train")
        state.data["densnet_trained"] = True
        state.save()
    return run / "model.ckpt"


def evaluate_densnet(work: Path, model: Path, data: Path, args: argparse.Namespace, state: StepState) -> dict:
    """``densnet evaluate`` on the test split (float64): eps_rho (+ floor, SAD), E, F, dipole."""
    out = work / "densnet_test.json"
    if not out.exists():
        cmd = [sys.executable, "-m", "densnet.cli", "evaluate", str(model), str(data), "--split", "test",
               "--json", str(out), "--quiet"]
        run_timed(cmd, work / "densnet_eval.log", thread_env(args.threads), state, "densnet_eval")
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


def evaluate_mace(work: Path, model: Path, xyz: Path, args: argparse.Namespace, state: StepState) -> dict:
    """``mace_eval_configs`` on test.xyz (float64), then energy/force errors against REF_energy/REF_forces."""
    import ase.io

    pred = work / "mace_test_pred.xyz"
    if not pred.exists():
        tmp = work / "mace_test_pred.tmp.xyz"
        cmd = [mace_bin(args, "mace_eval_configs"), "--configs", str(xyz / "test.xyz"), "--model", str(model),
               "--output", str(tmp), "--device", "cpu", "--default_dtype", "float64", "--batch_size", "16"]
        run_timed(cmd, work / "mace_eval.log", thread_env(args.threads), state, "mace_eval")
        os.replace(tmp, pred)
    ref = ase.io.read(xyz / "test.xyz", index=":")
    out = ase.io.read(pred, index=":")
    if len(ref) != len(out):
        raise SystemExit(f"[accuracy] {pred}: {len(out)} frames, test.xyz has {len(ref)}")
    de = np.array([o.info["MACE_energy"] - r.info["REF_energy"] for r, o in zip(ref, out, strict=True)])
    n_atoms = np.array([len(r) for r in ref])
    df = np.concatenate([(o.arrays["MACE_forces"] - r.arrays["REF_forces"]).ravel()
                         for r, o in zip(ref, out, strict=True)])
    return {"n_frames": len(ref),
            "energy_ev": {"mae": float(np.mean(np.abs(de))), "rmse": float(np.sqrt(np.mean(de**2)))},
            "energy_per_atom_ev": {"mae": float(np.mean(np.abs(de / n_atoms)))},
            "forces_ev_per_a": {"mae": float(np.mean(np.abs(df))), "rmse": float(np.sqrt(np.mean(df**2)))}}


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


def run_dataset(name: str, src: Path, args: argparse.Namespace, budget: dict) -> dict:
    """Snapshot, export, train both models, evaluate both; returns everything the report needs."""
    work = (Path(args.workdir).resolve() if args.workdir else ROOT / "runs" / "accuracy") / name
    if args.fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    state = StepState(work / "state.json")
    want = {"budget": budget, "threads": args.threads, "seed": args.seed, "max_train_frames": args.max_train_frames,
            "source": str(src), "densnet": densnet_settings(args, tuple(budget["densnet_epochs"])),
            "mace": MACE_HYPERS}
    if state.data.get("settings") not in (None, want):
        raise SystemExit(f"[accuracy] {work} holds a run with other settings {state.data['settings']} "
                         f"(now {want}): use --fresh or another --workdir")
    state.data["settings"] = want
    state.data.setdefault("load_start", os.getloadavg()[0])
    state.data.setdefault("started", f"{datetime.datetime.now():%Y-%m-%d %H:%M}")
    state.save()
    data = work / "data" / src.name
    if "snapshot" not in state.data:
        state.data["snapshot"] = snapshot_dataset(src, data)
        state.data["export"] = export_for_mace(data, work / "mace_data", args.max_train_frames)
        state.save()
    exp = state.data["export"]
    print(f"[accuracy] {name}: frames train {exp['counts']['train']}, val {exp['counts']['val']}, "
          f"test {exp['counts']['test']} (snapshot of {src}, {exp['n_labelled']} labelled)", flush=True)
    d_epochs = tuple(budget["densnet_epochs"])  # type: ignore[arg-type]
    m_epochs = int(budget["mace_epochs"])  # type: ignore[arg-type]
    def densnet_side() -> tuple[Path, dict]:
        model = train_densnet(work, data, d_epochs, args, state)  # type: ignore[arg-type]
        return model, evaluate_densnet(work, model, data, args, state)

    def mace_side() -> tuple[Path, dict]:
        model = train_mace(work, work / "mace_data", m_epochs, args, state)
        return model, evaluate_mace(work, model, work / "mace_data", args, state)

    if args.parallel:  # both trainings at once, each with --threads threads
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(densnet_side), pool.submit(mace_side)]
            while not all(f.done() for f in futures):  # wake up often: signals are handled in this thread
                time.sleep(0.5)
                if any(f.done() and f.exception() for f in futures):
                    for proc in list(ACTIVE):  # one side failed: stop the other, report the failure
                        proc.terminate()
            (model, dens), (mace_model, mace) = (f.result() for f in futures)
    else:
        (model, dens), (mace_model, mace) = densnet_side(), mace_side()
    with state.lock:
        if "finished" not in state.data:
            state.data["load_end"] = os.getloadavg()[0]
            state.data["finished"] = f"{datetime.datetime.now():%Y-%m-%d %H:%M}"
        state.save()
    return {"name": name, "source": str(src), "work": str(work), "state": state.data, "densnet": dens, "mace": mace,
            "mace_model": mace_model.name, "densnet_params": densnet_parameters(model),
            "mace_params": mace_parameters(args, mace_model)}


# ---------------------------------------------------------------------------------------------- report


def _f(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def table(r: dict) -> str:
    """Markdown table of one molecule."""
    d, m, s = r["densnet"], r["mace"], r["state"]
    b = s["export"]["baseline"]
    rho = d.get("density_percent", {})
    rows = [
        ("eps_rho (% of electrons)", _f(rho.get("eps_rho_model"), ".3f"), "-",
         f"SAD only {_f(rho.get('eps_rho_sad'), '.3f')}; fitting floor {_f(rho.get('eps_rho_fit_floor'), '.3f')}"),
        ("energy MAE (eV/molecule)", _f(d["energy_ev"]["mae"], ".4f"), _f(m["energy_ev"]["mae"], ".4f"),
         f"mean training energy {b['energy_mae_ev']:.4f}"),
        ("energy MAE (meV/atom)", _f(d["energy_per_atom_ev"]["mae"] * 1e3, ".2f"),
         _f(m["energy_per_atom_ev"]["mae"] * 1e3, ".2f"), f"mean training energy {b['energy_mae_mev_per_atom']:.2f}"),
        ("energy RMSE (eV/molecule)", _f(d["energy_ev"]["rmse"], ".4f"), _f(m["energy_ev"]["rmse"], ".4f"), ""),
        ("force MAE (eV/A)", _f(d["forces_ev_per_a"]["mae"], ".4f"), _f(m["forces_ev_per_a"]["mae"], ".4f"),
         f"zero forces {b['force_mae']:.4f}"),
        ("force RMSE (eV/A)", _f(d["forces_ev_per_a"]["rmse"], ".4f"), _f(m["forces_ev_per_a"]["rmse"], ".4f"), ""),
        ("dipole MAE (D, per component)", _f(d.get("dipole_debye", {}).get("mae"), ".4f"), "-", ""),
        ("training CPU time (s)", f"{s['densnet_train']['cpu_s']:.0f}", f"{s['mace_train']['cpu_s']:.0f}", ""),
        ("training wall time (s)", f"{s['densnet_train']['wall_s']:.0f}", f"{s['mace_train']['wall_s']:.0f}", ""),
        ("parameters", f"{r['densnet_params']:,}", f"{r['mace_params']:,}", ""),
    ]
    lines = ["| quantity | densnet | MACE | baseline |", "|---|---|---|---|"]
    lines += [f"| {a} | {b_} | {c} | {e} |" for a, b_, c, e in rows]
    return "\n".join(lines)


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
        parts.append("# Accuracy on the held-out test split: densnet vs MACE vs the SAD-only baseline\n")
    parts.append(
        f"Made by `benchmarks/accuracy.py`. Command: `{cmd}`  \n"
        f"Started {started}, finished {finished} (first start and last end over resumed invocations). "
        f"Machine: {machine()}; load average {load0:.1f} at the start, {load1:.1f} at the end (the machine is shared: "
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
        "predicted density gives it; MACE predicts none ('-'). Baselines: a constant energy (mean of the training "
        "frames) and zero forces.\n")
    for r in results:
        s = r["state"]
        c = s["export"]["counts"]
        lot = s["export"]["level_of_theory"]
        parts.append(
            f"## {r['name']}\n\nData: `{rel(r['source'])}` (snapshot of {s['export']['n_labelled']} labelled frames; "
            f"level of theory {lot.get('xc', '?').upper()}/{lot.get('basis', '?')}, density basis "
            f"{lot.get('density_basis', '?')}). Frames: train {c['train']}, validation {c['val']}, test {c['test']} "
            f"(split by trajectory at labelling time). Work directory `{rel(r['work'])}`; MACE model "
            f"`{r['mace_model']}`."
            + (f" Resumed: densnet training {s['densnet_train']['invocations']} invocation(s), MACE "
               f"{s['mace_train']['invocations']}." if max(s['densnet_train']['invocations'],
                                                             s['mace_train']['invocations']) > 1 else "")
            + "\n\n" + table(r) + "\n")
    return "\n".join(parts)


def _terminate(signum: int, frame: object) -> None:
    for proc in list(ACTIVE):
        proc.terminate()
    raise SystemExit(f"[accuracy] stopped by signal {signum}; re-run the same command to resume")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("datasets", nargs="+", help="densnet HDF5 datasets, as PATH or NAME=PATH (name: molecule)")
    p.add_argument("--out", default="benchmarks/accuracy.md", help="Markdown report")
    p.add_argument("--budget", choices=sorted(BUDGETS), default="full")
    p.add_argument("--densnet-epochs", help="DENSITY,ENERGY epochs (overrides the budget's)")
    p.add_argument("--mace-epochs", type=int, help="MACE epochs (overrides the budget's)")
    p.add_argument("--densnet-config", help="densnet training YAML (model, stages, lr, ...; its data/output are "
                   "ignored, the budget's epochs win); default: densnet's defaults")
    p.add_argument("--max-train-frames", type=int, help="use only the first N training frames (both models)")
    p.add_argument("--threads", type=int, default=1, help="torch/BLAS threads of each training (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--parallel", action="store_true",
                   help="train densnet and MACE at the same time (halves the wall time on 2 free cores)")
    p.add_argument("--workdir", help="work directory (default runs/accuracy; one subfolder per dataset)")
    p.add_argument("--fresh", action="store_true", help="delete the dataset's work directory first")
    p.add_argument("--mace-venv", default=str(ROOT / ".venv-mace"))
    p.add_argument("--title", help="report heading (default depends on the budget)")
    p.add_argument("--json", help="also write all numbers here")
    args = p.parse_args()
    budget = dict(BUDGETS[args.budget])
    if args.densnet_epochs:
        budget["densnet_epochs"] = tuple(int(x) for x in args.densnet_epochs.split(","))
    if args.mace_epochs:
        budget["mace_epochs"] = args.mace_epochs
    budget["densnet_epochs"] = list(budget["densnet_epochs"])  # type: ignore[arg-type]
    signal.signal(signal.SIGTERM, _terminate)  # `kill PID` stops the training child too (resume later)
    cmd = " ".join(["python benchmarks/accuracy.py", *sys.argv[1:]])
    results = []
    for spec in args.datasets:
        name, _, path = spec.rpartition("=")
        src = Path(path).resolve()
        results.append(run_dataset(name or src.stem, src, args, budget))
    text = report(results, args, budget, cmd)
    Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    print(text)


if __name__ == "__main__":
    main()

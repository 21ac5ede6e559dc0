"""A few-minute CPU training run on the shipped ethanol set, against the SAD prior and a mean-energy model.

Usage: python benchmarks/train_small.py OUT.md [--data examples/ethanol/small.h5] [--density-epochs 60]
       [--energy-epochs 120] [--threads 1]
Trains with `densnet train` (defaults of python/densnet/train.py except the epochs), evaluates on the test split
with `densnet evaluate`, and writes a Markdown table: eps_rho of the model vs SAD only vs the fitting floor, and
energy/force MAE vs the mean-energy baseline (a constant energy = mean training energy, zero forces). Records the
command, date, machine, load and the CPU time of the training.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--data", default="examples/ethanol/small.h5")
    p.add_argument("--density-epochs", type=int, default=60)
    p.add_argument("--energy-epochs", type=int, default=120)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--split", default="test")
    a = p.parse_args()
    from densnet.dataset import load

    data = Path(a.data).resolve()
    exe = [sys.executable, "-m", "densnet.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = {"data": str(data), "output": str(Path(tmp) / "run"), "threads": a.threads,
               "stages": {"density": {"epochs": a.density_epochs}, "energy": {"epochs": a.energy_epochs}}}
        (Path(tmp) / "train.yaml").write_text(yaml.safe_dump(cfg))
        load0 = os.getloadavg()[0]
        t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([*exe, "train", str(Path(tmp) / "train.yaml")], check=True, stdout=subprocess.DEVNULL)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall, cpu = time.perf_counter() - t0, (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
        metrics = Path(tmp) / "m.json"
        subprocess.run([*exe, "evaluate", str(Path(tmp) / "run" / "model.ckpt"), str(data), "--split", a.split,
                        "--json", str(metrics)], check=True, stdout=subprocess.DEVNULL)
        m = json.loads(metrics.read_text())
    ds = load(data, load_dm=False)
    train, test = ds.split("train"), ds.split(a.split)
    e_mean = np.mean([f.energy for f in train])
    base_e = float(np.mean([abs(f.energy - e_mean) for f in test]))
    base_f = float(np.mean(np.concatenate([np.abs(f.forces).ravel() for f in test])))
    d = m["density_percent"]
    rows = [
        ("eps_rho (% of electrons)", f"{d['eps_rho_model']:.3f}", f"SAD only {d['eps_rho_sad']:.3f}",
         f"fitting floor {d['eps_rho_fit_floor']:.3f}"),
        ("energy MAE (eV/molecule)", f"{m['energy_ev']['mae']:.4f}", f"mean energy {base_e:.4f}", ""),
        ("force MAE (eV/A)", f"{m['forces_ev_per_a']['mae']:.4f}", f"zero forces {base_f:.4f}", ""),
        ("dipole MAE (D, per component)", f"{m['dipole_debye']['mae']:.4f}", "", ""),
    ]
    cmd = " ".join(["python benchmarks/train_small.py", a.out, "--data", a.data, "--density-epochs",
                    str(a.density_epochs), "--energy-epochs", str(a.energy_epochs), "--threads", str(a.threads)])
    text = (f"# Few-minute training on {data.name}\n\nCommand: `{cmd}`  \nDate {datetime.date.today()}; machine "
            f"{platform.machine()}, {os.cpu_count()} cores, load average {load0:.1f} at the start; training "
            f"took {wall:.0f} s wall, {cpu:.0f} s CPU ({a.threads} torch threads). Split `{a.split}`: "
            f"{len(test)} frames (train {len(train)}).\n\n| quantity | densnet | baseline | |\n|---|---|---|---|\n"
            + "\n".join(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |" for r in rows) + "\n")
    Path(a.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()

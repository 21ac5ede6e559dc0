"""CPU-time speed of the densnet model (energy + forces), 1 torch thread, float64 and float32.

    python benchmarks/model_speed.py [--json out.json] [--profile] [--repeats 3] [--label NAME]
    python benchmarks/model_speed.py --table before.json after.json     (markdown table of two runs)

Systems: 1 ethanol (gas phase, 9 atoms) and 64 ethanols in a periodic box at 0.79 g/cm^3 (576 atoms).
Model: random weights, default architecture (densnet.model.network.DEFAULT_MODEL), elements H C O S (speed
does not depend on the weights). Paths timed:

* ``contract``: ``torch.jit.script(ContractModel(model))`` on precomputed inputs (what LAMMPS runs; no
  neighbour list),
* ``ase``: ``DenSNetCalculator.get_forces()`` on displaced geometries (neighbour list + compute_properties).

Times are CPU seconds of this process (``time.process_time``), so background load on a shared machine
inflates them much less than wall time; each number is the best of ``--repeats`` blocks. ``--profile``
prints torch.profiler tables (top operators by self CPU time) of the eager ContractModel.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase.build import molecule
from lammps_speed import ethanol_box  # same boxes as the LAMMPS benchmark

ROOT = Path(__file__).resolve().parents[1]
ELEMENTS = ("H", "C", "O", "S")


def make_model(dtype: torch.dtype):
    """Random-weight DensNet of the default architecture (tests/model/helpers.random_model), cast to dtype."""
    sys.path.insert(0, str(ROOT / "tests" / "model"))
    from helpers import random_model

    from densnet.model.network import DEFAULT_MODEL

    model, _, _ = random_model(ELEMENTS, config=dict(DEFAULT_MODEL), seed=0)
    return model.to(dtype).eval()


def cpu_rate(fn, n_calls: int, repeats: int) -> float:
    """Best calls per CPU second of ``fn`` over ``repeats`` blocks of ``n_calls`` calls (after a warm-up)."""
    fn()
    best = 0.0
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(n_calls):
            fn()
        best = max(best, n_calls / max(time.process_time() - t0, 1e-9))
    return best


def bench(dtype: torch.dtype, repeats: int, profile: bool) -> list[dict]:
    from densnet.calculator import DenSNetCalculator
    from densnet.model.contract import ContractModel

    model = make_model(dtype)
    contract = torch.jit.script(ContractModel(model))
    eager = ContractModel(model)
    rows = []
    for name, atoms in (("1 ethanol", molecule("CH3CH2OH")), ("64 ethanol (periodic)", ethanol_box(64))):
        n = len(atoms)
        inp = model.inputs(atoms)
        n_local = torch.tensor(n)
        calls = max(2, round(2000 / n))
        r_contract = cpu_rate(lambda inp=inp, n_local=n_local: contract(*inp, n_local), calls, repeats)
        a = atoms.copy()
        a.calc = DenSNetCalculator(model, dtype=dtype)
        rng = np.random.default_rng(0)

        def ase_call(a=a, rng=rng):
            a.positions = a.positions + rng.normal(scale=1e-3, size=a.positions.shape)
            a.get_forces()

        r_ase = cpu_rate(ase_call, calls, repeats)
        row = {"system": name, "atoms": n, "edges": int(inp[2].shape[1]), "dtype": str(dtype).split(".")[-1],
               "contract_steps_per_cpu_s": r_contract, "ase_calls_per_cpu_s": r_ase}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if profile:
            from torch.profiler import ProfilerActivity
            from torch.profiler import profile as tprof

            for _ in range(2):
                eager(*inp, n_local)
            with tprof(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
                for _ in range(max(1, calls // 4)):
                    eager(*inp, n_local)
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25), flush=True)
    return rows


def table(before: dict, after: dict) -> str:
    """Markdown table comparing two ``--json`` results (CPU-time rates)."""
    lines = ["| system | atoms | dtype | path | before steps/s | after steps/s | before atom-steps/s | "
             "after atom-steps/s | speed-up |", "|---|---|---|---|---|---|---|---|---|"]
    for rb in before["rows"]:
        ra = next(r for r in after["rows"] if r["system"] == rb["system"] and r["dtype"] == rb["dtype"])
        for key, name in (("contract_steps_per_cpu_s", "TorchScript ContractModel"),
                          ("ase_calls_per_cpu_s", "ASE calculator")):
            b, a = rb[key], ra[key]
            lines.append(f"| {rb['system']} | {rb['atoms']} | {rb['dtype']} | {name} | {b:.3g} | {a:.3g} | "
                         f"{b * rb['atoms']:.3g} | {a * ra['atoms']:.3g} | {a / b:.1f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", help="write results (with date, machine, load) to this JSON file")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--label", default="", help="free-text label stored in the JSON (e.g. before / after)")
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("--table", nargs=2, metavar=("BEFORE", "AFTER"), help="print a markdown table of two JSON runs")
    args = p.parse_args(argv)
    if args.table:
        print(table(*(json.loads(Path(f).read_text()) for f in args.table)))
        return 0
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    rows = []
    for dt in args.dtypes.split(","):
        rows += bench(getattr(torch, dt), args.repeats, args.profile)
    result = {"label": args.label, "date": datetime.datetime.now().isoformat(timespec="minutes"),
              "machine": f"{platform.node()}, {os.cpu_count()} cores, torch {torch.__version__}",
              "load_before": load_before, "load_after": os.getloadavg(), "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

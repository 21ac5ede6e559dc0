"""Peak memory and speed of pair_style densnet modes on one rank: shift (memory keep, the default, and
memory release), halo, halo + recompute.

    python benchmarks/lammps_memory.py benchmarks/lammps_memory.md [--chains NY NZ] [--checkpoint CKPT]

Same model and input as benchmarks/lammps_speed.py (``--checkpoint`` or random weights, default architecture;
float64, 1 thread);
system: NY x NZ stacked 12T chains (periodic). Peak memory = GNU time's maximum resident set of the lmp
process (includes ~0.2 GB of the process and libraries); speed (wall clock) as in lammps_speed.py.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

from ase.io import read

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lammps_speed as L  # noqa: E402

MODES = ("mode shift", "mode shift memory release", "mode halo", "mode halo recompute yes")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("output")
    p.add_argument("--chains", type=int, nargs=2, default=(2, 4), metavar=("NY", "NZ"))
    p.add_argument("--checkpoint", help="densnet model checkpoint (default: random weights, default architecture)")
    args = p.parse_args(argv)
    from densnet.deploy.build import build_plugin
    from densnet.deploy.export import export_checkpoint

    work = Path(tempfile.mkdtemp(prefix="densnet-mem-"))
    plugin = build_plugin()
    _, ckpt, desc = L.make_model(args.checkpoint, work)
    md = export_checkpoint(ckpt, work / "model.pt")
    atoms = L.chain_box(read(L.ROOT / "examples" / "polythiophene" / "12T.xyz"), *args.chains)
    load0 = os.getloadavg()
    rows = []
    for mode in MODES:
        sub = work / mode.replace(" ", "_")
        sub.mkdir()
        r = L.lammps_speed(plugin, work / "model.pt", atoms, 1, 6, 2, sub, list(md.elements), pair_args=mode,
                           timestep=L.timestep(args.checkpoint))
        rows.append({"pair_style densnet": mode, **r})
        print(mode, r, flush=True)
    lines = [
        "# pair_style densnet: peak memory and speed by mode (1 rank)", "",
        f"Command: `python benchmarks/lammps_memory.py {' '.join(argv if argv is not None else sys.argv[1:])}`  ",
        f"Date: {datetime.datetime.now().isoformat(timespec='minutes')}; machine: {platform.node()}, "
        f"{os.cpu_count()} cores; load average before {load0[0]:.1f}. Model: {desc}, float64, 1 thread. System: "
        f"{args.chains[0] * args.chains[1]} stacked 12T chains, {len(atoms)} atoms, periodic.", "",
        "| pair_style keywords | steps/s (wall clock, machine otherwise idle) | peak memory (MB) |", "|---|---|---|"]
    lines += [f"| `{r['pair_style densnet']}` | {r['steps_per_s']:.3g} | {r['max_rss_mb']:.0f} |" for r in rows]
    lines += ["", "Raw (JSON):", "", "```", json.dumps(rows, indent=1), "```", ""]
    Path(args.output).write_text("\n".join(lines))
    print("\n".join(lines[:12]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

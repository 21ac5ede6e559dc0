"""CPU time of one interaction layer (forward + gradient with respect to its input), TorchScript, 1 thread.

    python benchmarks/interaction_speed.py [--atoms 9 --edges 70] [--repeats 3] [--json out.json] \
        [--baseline old_interaction.py]

Layers (float64, random weights, 8 radial functions, hidden 16): the default energy layer (16x0e+8x1o+8x2e,
edge harmonics to l = 2), the last density layer (to 16x0e+8x1o+8x2e+8x3o+8x4e, harmonics to l = 4, ungated) and
the wide energy layer of examples/ethanol/model_final.yaml (64x0e+32x1o+32x2e). Random graph of --atoms nodes
and --edges edges. ``--baseline FILE``: also time the ``Interaction`` of another version of
python/densnet/model/interaction.py (e.g. ``git show REV:python/densnet/model/interaction.py > old.py``), with the
same weights, alternating the two in every repeat (fair on a loaded machine), and check that both give the same
output.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time

import torch
from e3nn import o3

from densnet.model.interaction import Interaction

LAYERS = [("energy (default)", "16x0e+8x1o+8x2e", 2, "16x0e+8x1o+8x2e", True),
          ("last density layer", "16x0e+8x1o+8x2e", 4, "16x0e+8x1o+8x2e+8x3o+8x4e", False),
          ("energy (wide)", "64x0e+32x1o+32x2e", 2, "64x0e+32x1o+32x2e", True)]


def load_class(path: str) -> type:
    """The ``Interaction`` class of the interaction.py file at ``path``."""
    spec = importlib.util.spec_from_file_location("baseline_interaction", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.Interaction


def time_layer(classes: list[type], irin: str, lsh: int, irout: str, gate: bool, n: int, e: int, calls: int,
               repeats: int) -> list[float]:
    """Best-of-``repeats`` CPU milliseconds per forward + input-gradient call, per class (same weights)."""
    layers = []
    for cls in classes:
        torch.manual_seed(0)
        layers.append(torch.jit.script(cls(irin, lsh, irout, 8, 16, 8.0, gate)))
    h = torch.randn(n, o3.Irreps(irin).dim, requires_grad=True)
    ei = torch.randint(0, n, (2, e))
    sh = o3.spherical_harmonics(list(range(lsh + 1)), torch.randn(e, 3), True, normalization="component")
    rad, env = torch.randn(e, 8), torch.rand(e)
    ref = layers[0](h, ei, sh, rad, env, [])[0]
    for layer in layers[1:]:
        diff = float((layer(h, ei, sh, rad, env, [])[0] - ref).abs().max())
        assert diff < 1e-10 * float(ref.abs().max()), f"outputs differ by {diff}"
    best = [float("inf")] * len(layers)
    for _ in range(repeats):
        for k, layer in enumerate(layers):
            t0 = time.process_time()
            for _ in range(calls):
                y, _ = layer(h, ei, sh, rad, env, [])
                torch.autograd.grad(y.square().sum(), h)
            best[k] = min(best[k], 1e3 * (time.process_time() - t0) / calls)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--atoms", type=int, default=9)
    p.add_argument("--edges", type=int, default=70)
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--baseline", help="interaction.py of another version, timed alongside")
    p.add_argument("--json", help="write the rows to this file")
    a = p.parse_args()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    classes = [Interaction] + ([load_class(a.baseline)] if a.baseline else [])
    rows = []
    for name, irin, lsh, irout, gate in LAYERS:
        ms = time_layer(classes, irin, lsh, irout, gate, a.atoms, a.edges, a.calls, a.repeats)
        rows.append({"layer": name, "atoms": a.atoms, "edges": a.edges, "ms": ms[0],
                     **({"baseline_ms": ms[1]} if a.baseline else {})})
    for r in rows:
        base = f"  baseline {r['baseline_ms']:.3f} ({r['baseline_ms'] / r['ms']:.2f}x)" if a.baseline else ""
        print(f"{r['layer']:20s} {r['atoms']:6d} atoms {r['edges']:7d} edges  {r['ms']:.3f} CPU ms per call{base}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()

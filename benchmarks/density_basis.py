"""Density-basis trade-off: fitting floor (eps_rho of the constrained Coulomb fit) and the best L1 error the
basis can reach, against the exact Kohn-Sham density, with the basis size (model output per atom).

Usage: python benchmarks/density_basis.py DATA.h5 OUT.md [--frames 10] [--bases def2-universal-jfit ...]
The frames are the first N of the validation + test splits. eps_rho = 100 * int |rho_fit - rho_KS| / N_el on a
PySCF level-3 grid. "L1-optimal" minimises that same integral over the coefficients (iteratively reweighted
least squares on the grid, electron count fixed), i.e. the floor for a model trained with an L1 grid loss.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def l1_optimal(phi: np.ndarray, w: np.ndarray, rho: np.ndarray, n: np.ndarray, n_el: float, c0: np.ndarray,
               iters: int = 60) -> np.ndarray:
    """Coefficients minimising sum_g w_g |phi_g c - rho_g| with n @ c = n_el (IRLS, from c0)."""
    c = c0.copy()
    for _ in range(iters):
        r = np.abs(phi @ c - rho)
        wt = w / np.maximum(r, 1e-10 * max(r.max(), 1e-30))
        a = phi.T @ (wt[:, None] * phi)
        b = phi.T @ (wt * rho)
        # equality-constrained weighted least squares (KKT system)
        m = len(c)
        kkt = np.zeros((m + 1, m + 1))
        kkt[:m, :m] = a + 1e-12 * np.trace(a) / m * np.eye(m)
        kkt[:m, m] = kkt[m, :m] = n
        sol = np.linalg.solve(kkt, np.concatenate([b, [n_el]]))
        c = sol[:m]
    return c


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--bases", nargs="+",
                   default=["def2-universal-jfit", "def2-universal-jkfit", "cc-pvtz-jkfit", "even-tempered"])
    a = p.parse_args()
    from pyscf import dft

    from densnet.basis import element_layout, one_centre_moments
    from densnet.dataset import load_h5
    from densnet.dft import make_mol
    from densnet.refit import refit

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for basis in a.bases:
            t0 = time.perf_counter()
            out = Path(tmp) / f"{basis}.h5"
            refit(Path(a.data), out, basis, progress=False)
            ds = load_h5(out)
            frames = (ds.split("val") + ds.split("test"))[: a.frames]
            floor, best = [], []
            for f in frames:
                mol = make_mol(f.numbers, f.positions, ds.orbital_basis)
                grids = dft.gen_grid.Grids(mol)
                grids.level = 3
                grids.build()
                ni = dft.numint.NumInt()
                rho = ni.eval_rho(mol, ni.eval_ao(mol, grids.coords), f.dm)
                aux = make_mol(f.numbers, f.positions, ds.density_basis)
                phi = aux.eval_gto("GTOval_sph", grids.coords)
                n_el = float(f.numbers.sum())
                n, _ = one_centre_moments(aux)
                floor.append(100 * (np.abs(phi @ f.coeffs - rho) @ grids.weights) / n_el)
                c = l1_optimal(phi, grids.weights, rho, n, n_el, f.coeffs)
                best.append(100 * (np.abs(phi @ c - rho) @ grids.weights) / n_el)
            sizes = ", ".join(f"{el} {element_layout(el, ds.density_basis[el]).n_functions}" for el in ds.elements)
            rows.append(f"| {basis} | {sizes} | {np.mean(floor):.3f} | {np.mean(best):.3f} | {len(frames)} "
                        f"| {time.perf_counter() - t0:.0f} |")
            print(rows[-1], flush=True)
            write_report(a, rows)  # after every basis: a stopped run keeps the finished rows


def write_report(a: argparse.Namespace, rows: list[str]) -> None:
    """The Markdown report of the bases finished so far."""
    bases = " ".join(a.bases)
    with open(a.out, "w") as fh:
        fh.write(f"# Density basis trade-off ({Path(a.data).name})\n\n"
                 f"Command: `python benchmarks/density_basis.py {a.data} {a.out} --frames {a.frames} "
                 f"--bases {bases}`  \n"
                 f"Date {datetime.date.today()}, machine {platform.machine()} with {os.cpu_count()} cores "
                 f"(load average {os.getloadavg()[0]:.1f} at the end). Rows: {len(rows)} of {len(a.bases)} bases "
                 "finished.\n\n"
                 "eps_rho in % of the electrons against the exact Kohn-Sham density (level-3 grid), mean over the "
                 "frames. *Coulomb fit* = the stored targets (constrained Coulomb-metric fit); *L1-optimal* = the "
                 "best coefficients for the L1 metric itself (IRLS), the floor of a model trained with an L1 grid "
                 "loss.\n\n| basis | functions per element | Coulomb-fit floor | L1-optimal floor | frames | "
                 "seconds |\n|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()

"""Does a trained model's density make a better SCF start than PySCF's default guess? (labelling cost study)

For each of the first N frames of a split, one SCF run per guess at the dataset's level of theory, 1 thread:
``minao`` (PySCF's default guess), ``previous`` (the converged density matrix of the frame before it in the
file, what ``densnet label`` does between consecutive frames of one worker) and ``model`` (one Kohn-Sham
diagonalisation in the potential of the model's predicted density: H_core + J[rho_ML] + V_xc[rho_ML], J from
the fitted coefficients' 3-centre integrals, V_xc on a grid of level --guess-grid), ``gridN`` (the same SCF
first converged to 1e-7 Eh on a grid of level N, its density then polished on the reference grid, J-fit
integrals shared), or one of PySCF's ``init_guess`` names. Prints SCF cycles and CPU seconds (the construction
of the model or coarse-grid guess included) and the energy agreement of the runs.

Usage: OMP_NUM_THREADS=1 python benchmarks/ml_guess.py MODEL.ckpt DATA.h5 [--frames 4] [--split test]
    [--guess-grid 3] [--guesses minao,previous,model,atom,huckel,vsap] [--out benchmarks/label_guess.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch


def model_coefficients(model, frame) -> np.ndarray:
    """Predicted flat density coefficients (PySCF order of ``model.density_basis``)."""
    from ase import Atoms
    from e3nn import o3

    from densnet import keys as K
    from densnet.model.network import compute_properties
    from densnet.model.observables import flat_coefficients

    atoms = Atoms(numbers=frame.numbers, positions=frame.positions)
    pos, types, ei, sh = model.inputs(atoms)
    out = compute_properties(model, pos, types, ei, sh, torch.zeros(len(atoms), dtype=torch.long), 1,
                             forces=False)
    nf = [o3.Irreps(s).dim for s in model.element_irreps]
    return flat_coefficients(out[K.COEFFS].detach().double().numpy(), types.numpy(), nf)


def guess_from_density(mf, auxmol, c: np.ndarray, grid_level: int) -> np.ndarray:
    """AO density matrix [nao, nao] from one diagonalisation of the KS matrix of rho = sum_P c_P phi_P
    (V_xc integrated on a grid of ``grid_level``)."""
    import scipy.linalg
    from pyscf import dft
    from pyscf.df import incore

    mol = mf.mol
    j3c = incore.aux_e2(mol, auxmol, "int3c2e", aosym="s1")  # [nao, nao, naux]
    vj = j3c.reshape(-1, j3c.shape[-1]) @ c
    vj = vj.reshape(mol.nao, mol.nao)
    ni = mf._numint
    grids = dft.gen_grid.Grids(mol)
    grids.level = grid_level
    grids.build()
    vxc = np.zeros((mol.nao, mol.nao))
    for p0 in range(0, grids.weights.size, 20000):
        coords = grids.coords[p0 : p0 + 20000]
        w = grids.weights[p0 : p0 + 20000]
        ao = ni.eval_ao(mol, coords, deriv=1)  # [4, ng, nao]
        rho = np.einsum("xgp,p->xg", auxmol.eval_gto("GTOval_sph_deriv1", coords), c)
        low = rho[0] < 1e-10  # fitted densities can dip below zero far out: no potential there
        rho[:, low] = 0.0
        rho[0, low] = 1e-10
        vrho = ni.eval_xc_eff(mf.xc, rho, deriv=1, xctype="GGA")[1]  # [4, ng]
        wv = vrho * w
        wv[0] *= 0.5
        wv[:, low] = 0.0
        aow = np.einsum("xgp,xg->gp", ao, wv)
        vxc += ao[0].T @ aow
    fock = mf.get_hcore() + vj + vxc + vxc.T
    e, mo = scipy.linalg.eigh(fock, mf.get_ovlp())
    occ = mo[:, : mol.nelectron // 2]
    return 2.0 * occ @ occ.T


def main() -> None:
    import os
    import platform
    from datetime import datetime

    from pyscf import lib

    from densnet import io_model
    from densnet.dataset import SPLIT_NAMES, load
    from densnet.dft import LevelOfTheory, _rks, make_mol
    from densnet.model.observables import density_mol

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("--frames", type=int, default=4, help="frames timed (one more is read for 'previous')")
    p.add_argument("--split", default="test", help="train, val, test or all")
    p.add_argument("--guess-grid", type=int, default=3, help="grid level of the model guess's V_xc (default 3)")
    p.add_argument("--guesses", default="minao,previous,model",
                   help="comma list of minao, previous, model, gridN (N = 0..9) and PySCF init_guess names "
                        "(atom, huckel, ...)")
    p.add_argument("--out", help="append a Markdown section with the table to this file")
    args = p.parse_args()
    lib.num_threads(1)
    torch.set_num_threads(1)
    model = io_model.load(args.model)
    ds = load(args.data)
    lot = LevelOfTheory(**{k: v for k, v in ds.level_of_theory.items() if k in LevelOfTheory.__dataclass_fields__})
    frames = ds.frames if args.split == "all" else [f for f in ds.frames if f.split == SPLIT_NAMES.index(args.split)]
    frames = frames[: args.frames + 1]
    guesses = args.guesses.split(",")
    rows: dict[str, list[tuple[int, float, float]]] = {g: [] for g in guesses}
    prev_dm = None
    for i, fr in enumerate(frames):
        mol = make_mol(fr.numbers, fr.positions, lot.basis, charge=lot.charge)
        energies = {}
        for guess in guesses if i else ["minao"]:  # frame 0 only provides the 'previous' density of frame 1
            t = time.process_time()
            mf = _rks(mol, lot)
            dm0 = None
            if guess == "model":
                aux = density_mol(fr.numbers, fr.positions, model.density_basis)
                dm0 = guess_from_density(mf, aux, model_coefficients(model, fr), args.guess_grid)
            elif guess == "previous":
                dm0 = prev_dm
            elif guess.startswith("grid"):
                coarse = _rks(mol, lot)
                coarse.grids.level = int(guess[4:])
                coarse.conv_tol = 1e-7
                coarse.kernel()
                dm0 = coarse.make_rdm1()
                mf.with_df = coarse.with_df  # the J-fit integrals are the same: built once
                print(f"frame {i}: {guess}: {coarse.cycles} coarse cycles", flush=True)
            elif guess != "minao":
                mf.init_guess = guess
            mf.kernel(dm0=dm0)
            if not mf.converged:
                raise SystemExit(f"frame {i}, guess {guess}: SCF not converged")
            if guess == "minao":
                this_dm = mf.make_rdm1()
            energies[guess] = mf.e_tot
            if i:
                rows[guess].append((mf.cycles, time.process_time() - t, 0.0))
        prev_dm = this_dm
        for guess in energies if i else []:
            cyc, cpu, _ = rows[guess][-1]
            rows[guess][-1] = (cyc, cpu, abs(energies[guess] - energies["minao"]) * 27211.386)
            print(f"frame {i}: {guess}: {cyc} cycles, {cpu:.1f} CPU s", flush=True)
    cmd = "OMP_NUM_THREADS=1 python benchmarks/ml_guess.py " + " ".join(sys.argv[1:])
    table = [f"## {Path(args.data).name}, model {args.model}", "",
             f"Command: `{cmd}`  ", f"Date: {datetime.now():%Y-%m-%d %H:%M}; machine: {platform.machine()}, "
             f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end (CPU times of a shared "
             f"machine: +-20 %); level of theory {lot.describe()}; {len(frames) - 1} frames.", "",
             "| guess | SCF cycles (mean) | CPU s per SCF (mean, guess included) | max abs E - E(minao) (meV) |",
             "|---|---|---|---|"]
    for guess, r in rows.items():
        a = np.array(r)
        table.append(f"| {guess} | {a[:, 0].mean():.1f} | {a[:, 1].mean():.1f} | {a[:, 2].max():.1e} |")
    text = "\n".join(table) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write("\n" + text)


if __name__ == "__main__":
    main()

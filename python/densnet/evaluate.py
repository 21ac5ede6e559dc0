"""Model evaluation: density error against the exact Kohn-Sham density, energy/force/dipole errors; cube files.

eps_rho = 100 * int |rho_ML - rho_DFT| dr / N_electrons on a PySCF grid (level 3), rho_DFT from the stored AO
density matrix (orbital basis). Beside it: the fitting floor (same metric for the stored target coefficients)
and the SAD-only error. Energies eV (per molecule and per atom), forces eV/A, dipoles e*A and Debye.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from . import keys as K
from .errors import DensnetError

DEBYE_PER_EA = 1.0 / 0.20819434  # 1 e*A = 4.8032 D


def density_errors(frame, density_basis: dict, orbital_basis: dict, flat_ml: np.ndarray,
                   sad_flat: np.ndarray, grid_level: int = 3,
                   max_block_values: int = 2**25) -> dict[str, float]:
    """eps_rho (%) of the model, the fitted targets (floor) and SAD against the exact KS density."""
    from pyscf import dft

    from .dft import make_mol
    from .model.observables import density_mol

    mol = make_mol(frame.numbers, frame.positions, orbital_basis)
    grids = dft.gen_grid.Grids(mol)
    grids.level = grid_level
    grids.build()
    ni = dft.numint.NumInt()
    aux = density_mol(frame.numbers, frame.positions, density_basis)
    coeffs = {"eps_rho_model": flat_ml, "eps_rho_sad": sad_flat}
    if frame.coeffs is not None:
        coeffs["eps_rho_fit_floor"] = frame.coeffs
    abs_err = dict.fromkeys(coeffs, 0.0)
    # grid blocks of at most ~max_block_values basis values (the whole grid of a 6T is tens of GB)
    block = max(256, max_block_values // max(mol.nao, aux.nao))
    for s in range(0, len(grids.weights), block):
        pts, w = grids.coords[s : s + block], grids.weights[s : s + block]
        rho_dft = ni.eval_rho(mol, ni.eval_ao(mol, pts), frame.dm)
        phi = aux.eval_gto("GTOval_sph", pts)
        for k, c in coeffs.items():
            abs_err[k] += float(np.abs(phi @ c - rho_dft) @ w)
    n_el = float(np.sum(frame.numbers))
    return {k: 100.0 * v / n_el for k, v in abs_err.items()}


def _stats(err: list[np.ndarray]) -> dict[str, float]:
    e = np.concatenate([np.ravel(x) for x in err])
    return {"mae": float(np.mean(np.abs(e))), "rmse": float(np.sqrt(np.mean(e**2)))}


def evaluate(model, ds, frames, progress: bool = True, density: bool = True) -> dict:
    """Metrics of ``model`` (a DensNet) on ``frames`` of dataset ``ds``."""
    from ase.data import chemical_symbols
    from tqdm import tqdm

    from .model.network import compute_properties
    from .model.observables import flat_coefficients

    nf = [int(sum(m * ir.dim for m, ir in __import__("e3nn").o3.Irreps(s))) for s in model.element_irreps]
    e_err, ea_err, f_err, mu_err, rho = [], [], [], [], []
    for fr in tqdm(frames, desc="evaluate", disable=not progress):
        atoms_syms = [chemical_symbols[int(z)] for z in fr.numbers]
        from ase import Atoms

        atoms = Atoms(symbols=atoms_syms, positions=fr.positions, cell=fr.cell, pbc=fr.pbc)
        pos, types, ei, sh = model.inputs(atoms)
        out = compute_properties(model, pos, types, ei, sh, torch.zeros(len(atoms), dtype=torch.long), 1,
                                 forces=fr.forces is not None)
        if fr.energy is not None:
            de = out[K.ENERGY].item() - fr.energy
            e_err.append(np.array([de]))
            ea_err.append(np.array([de / len(atoms)]))
        if fr.forces is not None:
            f_err.append(out[K.FORCES].detach().double().numpy() - fr.forces)
        if fr.dipole is not None:
            mu_err.append(out[K.DIPOLE][0].detach().double().numpy() - fr.dipole)
        if density and fr.dm is not None and ds.orbital_basis and model.density_basis:
            t = types.numpy()
            c = flat_coefficients(out[K.COEFFS].detach().double().numpy(), t, nf)
            sad = flat_coefficients(model.sad.double().numpy()[t], t, nf)
            rho.append(density_errors(fr, model.density_basis, ds.orbital_basis, c, sad))
    m: dict = {"n_frames": len(frames)}
    if e_err:
        m["energy_ev"] = _stats(e_err)
        m["energy_per_atom_ev"] = _stats(ea_err)
    if f_err:
        m["forces_ev_per_a"] = _stats(f_err)
    if mu_err:
        s = _stats(mu_err)
        m["dipole_e_a"] = s
        m["dipole_debye"] = {k: v * DEBYE_PER_EA for k, v in s.items()}
    if rho:
        m["density_percent"] = {k: float(np.mean([r[k] for r in rho])) for k in rho[0]}
    return m


def format_table(m: dict) -> str:
    lines = [f"frames: {m['n_frames']}", f"{'quantity':32s} {'MAE':>12s} {'RMSE':>12s}"]
    for key, label in (("energy_ev", "energy (eV/molecule)"), ("energy_per_atom_ev", "energy (eV/atom)"),
                       ("forces_ev_per_a", "forces (eV/A)"), ("dipole_e_a", "dipole (e*A, per component)"),
                       ("dipole_debye", "dipole (D, per component)")):
        if key in m:
            lines.append(f"{label:32s} {m[key]['mae']:12.5f} {m[key]['rmse']:12.5f}")
    if "density_percent" in m:
        d = m["density_percent"]
        lines.append(f"density eps_rho (%): model {d['eps_rho_model']:.3f}   fitting floor "
                     f"{d.get('eps_rho_fit_floor', float('nan')):.3f}   SAD only {d['eps_rho_sad']:.3f}")
    return "\n".join(lines)


def run(model_path, data_path, split: str = "test", json_path=None, dtype: str = "float64",
        max_frames: int | None = None, progress: bool = True) -> dict:
    from . import io_model
    from .dataset import SPLIT_NAMES, load

    model = io_model.load(model_path, torch.float64 if dtype == "float64" else torch.float32)
    ds = load(data_path)
    frames = ds.frames if split == "all" else [f for f in ds.frames if f.split == SPLIT_NAMES.index(split)]
    frames = frames[:max_frames]
    if not frames:
        raise DensnetError(f"{data_path}: no frames in split {split!r}")
    m = evaluate(model, ds, frames, progress)
    m["model"], m["split"] = str(model_path), split
    m["data"] = [str(x) for x in data_path] if isinstance(data_path, list | tuple) else str(data_path)
    print(format_table(m))
    if json_path:
        Path(json_path).write_text(json.dumps(m, indent=1))
    return m


def write_cube(model_path, structure, output, spacing: float = 0.2, margin: float = 3.0) -> None:
    """Predicted density of ``structure`` on a box grid (``spacing`` A) to a Gaussian cube file (e/bohr^3)."""
    import ase.io
    from ase.io.cube import write_cube as ase_write_cube

    from . import io_model
    from .model.observables import BOHR

    model = io_model.load(model_path)
    atoms = ase.io.read(str(structure))
    lo = atoms.positions.min(0) - margin
    n = np.ceil((atoms.positions.max(0) + margin - lo) / spacing).astype(int) + 1
    axes = [lo[k] + spacing * np.arange(n[k]) for k in range(3)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    rho = model.density(atoms, pts).reshape(tuple(n)) * BOHR**3
    box = atoms.copy()
    box.cell = np.diag(n * spacing)
    box.pbc = False
    with open(output, "w") as fh:
        ase_write_cube(fh, box, data=rho, origin=lo, comment="densnet predicted electron density (e/bohr^3)")

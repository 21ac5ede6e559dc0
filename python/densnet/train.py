"""Training: stage 1 density (Coulomb-metric coefficient loss), stage 2 energy + forces with the density network
frozen, optional stage 3 joint fine-tuning. YAML config validated against ``CONFIG_SCHEMA``; checkpoints are
weights_only-safe dicts; ``resume`` continues exactly (RNG, optimizer, scheduler, EMA, epoch, stage).

Density loss (``density_loss``): ``l1`` (default) = mean over molecules of eps_rho = 100 int |rho - rho_KS| / N
on ``grid_points`` random points of the level-3 grid per frame, against the EXACT Kohn-Sham density (so the model
can go below the Coulomb-fit floor); ``coulomb`` = (c - c*)^T J (c - c*) (Hartree), J = int2c2e, against the
fitted targets; ``both``. Measured choice: docs/model.md. Only the
train split trains; the val split drives LR schedule, early stopping and model selection; test is not read.
"""

from __future__ import annotations

import copy
import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import keys as K
from .errors import DensnetError
from .model.interaction import MLP_INITS
from .model.network import DEFAULT_MODEL, DENSITY_MODULES, ENERGY_INPUTS, PRECISE_BUFFERS

STAGES = ("density", "energy", "joint")

_STAGE_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "epochs": {"type": "integer", "minimum": 0}, "lr": {"type": "number", "exclusiveMinimum": 0},
        "density_weight": {"type": "number", "minimum": 0}, "energy_weight": {"type": "number", "minimum": 0},
        "force_weight": {"type": "number", "minimum": 0}, "dipole_weight": {"type": "number", "minimum": 0},
        "patience": {"type": "integer", "minimum": 1},
    },
}

CONFIG_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["data"],
    "properties": {
        "data": {"description": "labelled dataset (.h5 from densnet label), or a list of them (merged, each frame "
                 "keeps its split)",
                 "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
        "output": {"type": "string", "description": "run directory"},
        "init": {"type": "string", "description": "model file (.ckpt) to start from: every parameter and buffer "
                 "with the same name and shape is copied (e.g. a trained density network for an energy-only run "
                 "with stages.density.epochs 0); same elements and density basis required"},
        "data_weights": {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 1,
                         "description": "loss weight of each dataset of the data list (energy, force and dipole "
                         "terms; e.g. 0.1 for close-contact frames whose large forces would dominate)"},
        "init_networks": {"type": "array", "items": {"enum": ["density", "energy"]}, "minItems": 1,
                          "uniqueItems": True, "description": "which networks init copies (default both): "
                          "[density] trains a new energy network on a trained density network"},
        "seed": {"type": "integer"},
        "batch_size": {"type": "integer", "minimum": 1},
        "dtype": {"enum": ["float32", "float64"]},
        "threads": {"type": "integer", "minimum": 1},
        "ema_decay": {"type": "number", "minimum": 0, "maximum": 1},
        "clip_grad": {"type": "number", "exclusiveMinimum": 0},
        "lr_factor": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "lr_patience": {"type": "integer", "minimum": 1},
        "max_train_frames": {"type": "integer", "minimum": 1},
        "train_fraction": {"type": "number", "exclusiveMinimum": 0, "maximum": 1,
                           "description": "train on an evenly spaced fraction of the train split (every 2nd frame "
                           "for 0.5, so every data file and trajectory keeps its share; learning curves); "
                           "applied before max_train_frames"},
        "density_loss": {"enum": ["coulomb", "l1", "both"]},
        "refit_energy_shift": {"type": "boolean", "description": "after the last stage, refit the per-element "
                               "energy shifts to the training energies by weighted least squares (per-atom "
                               "residuals, float64; forces unchanged): removes the per-atom energy offset that a "
                               "force-dominated loss leaves"},
        "grid_points": {"type": "integer", "minimum": 100},
        "model": {"type": "object", "additionalProperties": False, "description": "architecture (DEFAULT_MODEL)",
                  "properties": {k: {"enum": list(ENERGY_INPUTS)} if k == "energy_input"
                                 else {"enum": list(MLP_INITS)} if k == "mlp_init"
                                 else {"type": "boolean"} if isinstance(v, bool)
                                 else {"type": "number", "exclusiveMinimum": 0} if isinstance(v, float)
                                 else {"type": "integer",
                                       "minimum": 0 if k.endswith(("_lmax", "_vectors", "_radial_hidden")) else 1}
                                 for k, v in DEFAULT_MODEL.items()}},
        "stages": {"type": "object", "additionalProperties": False,
                   "properties": {s: _STAGE_SCHEMA for s in STAGES}},
    },
}

DEFAULTS: dict = {
    "output": "run", "seed": 0, "batch_size": 4, "dtype": "float32", "threads": 2, "ema_decay": 0.99,
    "clip_grad": 10.0, "lr_factor": 0.5, "lr_patience": 10, "model": {}, "density_loss": "l1",
    "grid_points": 3000, "refit_energy_shift": True,
    "stages": {
        "density": {"epochs": 100, "lr": 5e-3, "density_weight": 1.0, "dipole_weight": 0.0, "patience": 40},
        "energy": {"epochs": 200, "lr": 5e-3, "energy_weight": 1.0, "force_weight": 10.0, "dipole_weight": 0.0,
                   "patience": 60},
        "joint": {"epochs": 0, "lr": 5e-4, "density_weight": 1.0, "energy_weight": 1.0, "force_weight": 10.0,
                  "dipole_weight": 0.0, "patience": 40},
    },
}


def load_config(path_or_dict) -> dict:
    """Validate a YAML file (or dict) and fill in defaults; relative paths are taken from the YAML's folder."""
    import jsonschema
    import yaml

    if isinstance(path_or_dict, dict):
        raw, base = path_or_dict, Path.cwd()
    else:
        path = Path(path_or_dict)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise DensnetError(f"cannot read config {path}: {exc}") from None
        base = path.resolve().parent
    try:
        jsonschema.validate(raw, CONFIG_SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "<top>"
        raise DensnetError(f"config error at {where}: {exc.message}") from None
    cfg = copy.deepcopy(DEFAULTS)
    for k, v in raw.items():
        if k == "stages":
            for s, sv in v.items():
                cfg["stages"][s].update(sv)
        else:
            cfg[k] = v
    def resolve(x: str) -> str:
        p = Path(x)
        return str(p if p.is_absolute() else base / p)

    cfg["output"] = resolve(cfg["output"])
    if cfg.get("init"):
        cfg["init"] = resolve(cfg["init"])
    cfg["data"] = [resolve(x) for x in cfg["data"]] if isinstance(cfg["data"], list) else resolve(cfg["data"])
    return cfg


# ---------------------------------------------------------------------------------------------- data


def _provenance(ds) -> dict[str, str]:
    """Density-basis name and level of theory of a labelled dataset, stored in every checkpoint."""
    from .dft import LevelOfTheory

    lot = ds.level_of_theory or {}
    try:
        level = LevelOfTheory(**lot).describe()
    except TypeError:
        level = "unknown"
    return {"density_basis_name": str(lot.get("density_basis", "unknown")), "level_of_theory": level}


@dataclass
class Sample:
    """One frame as tensors (model dtype): see densnet.keys for names/shapes; j [n_flat, n_flat] Hartree."""

    positions: torch.Tensor
    types: torch.Tensor
    edge_index: torch.Tensor
    edge_shift: torch.Tensor
    coeffs: torch.Tensor | None
    energy: float | None
    forces: torch.Tensor | None
    dipole: torch.Tensor | None
    j: torch.Tensor | None
    grid: GridPoints | None = None
    weight: float = 1.0  # loss weight of the frame's energy, force and dipole terms


#: Density-basis values on the grid points of all training frames are kept in memory up to this size;
#: above it (rich bases, many frames) they are re-evaluated for every batch (PySCF eval_gto).
PHI_MEMORY_BUDGET = 4.0e9  # bytes


@dataclass
class GridPoints:
    """Sampled grid points of one frame: coords [P, 3] bohr, w [P] bohr^3 (rescaled weights), rho [P] e/bohr^3
    (exact KS density); phi [P, n_flat] density-basis values, stored or (None) evaluated on demand."""

    coords: np.ndarray
    w: torch.Tensor
    rho: torch.Tensor
    phi: torch.Tensor | None
    numbers: np.ndarray
    positions: np.ndarray  # A
    density_basis: dict

    def values(self) -> torch.Tensor:
        """phi [P, n_flat] (model dtype)."""
        if self.phi is not None:
            return self.phi
        from .model.observables import density_mol

        mol = density_mol(self.numbers, self.positions, self.density_basis)
        return torch.tensor(mol.eval_gto("GTOval_sph", self.coords), dtype=self.w.dtype)


class GridCache:
    """(coords, w, rho) of sampled grid points by frame, kept in ``path`` (npz) so that a resumed or repeated
    training does not rebuild the PySCF grids and KS densities (minutes for a thousand frames).

    Entries are keyed by a hash of the frame's numbers and positions, the number of points, the seed and
    ``identity`` (the dataset's level of theory); a missing or unreadable file just means recomputing."""

    def __init__(self, path: Path | None, identity: str) -> None:
        self.path, self.identity = path, identity
        self.entries: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.new = 0
        if path is not None and path.exists():
            try:
                with np.load(path) as z:  # each z[...] access reads the member again: read each once
                    keys, off, coords, w, rho = (z[k] for k in ("keys", "offsets", "coords", "w", "rho"))
                for k, key in enumerate(keys):
                    a, b = off[k], off[k + 1]
                    self.entries[str(key)] = (coords[a:b], w[a:b], rho[a:b])
            except (OSError, KeyError, ValueError):
                self.entries = {}

    def key(self, frame, n_points: int, seed: int) -> str:
        import hashlib

        h = hashlib.sha1(self.identity.encode())
        h.update(np.ascontiguousarray(frame.numbers, np.int64).tobytes())
        h.update(np.ascontiguousarray(frame.positions, np.float64).tobytes())
        h.update(f"{n_points},{seed}".encode())
        return h.hexdigest()

    def save(self) -> None:
        """Write the file (atomically) if entries were added."""
        if self.path is None or not self.new:
            return
        keys = list(self.entries)
        sizes = [len(self.entries[k][1]) for k in keys]
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, keys=np.array(keys), offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                 coords=np.concatenate([self.entries[k][0] for k in keys]),
                 w=np.concatenate([self.entries[k][1] for k in keys]),
                 rho=np.concatenate([self.entries[k][2] for k in keys]))
        tmp.replace(self.path)
        self.new = 0


def grid_sample(frame, density_basis: dict, orbital_basis: dict, n_points: int, seed: int, dtype: torch.dtype,
                store_phi: bool = True, cache: GridCache | None = None) -> GridPoints:
    """Random subset of the level-3 PySCF grid with weights rescaled (unbiased integrals) and the exact KS
    density of the frame's stored density matrix (taken from ``cache`` when it has them)."""
    key = cache.key(frame, n_points, seed) if cache is not None else ""
    if cache is not None and key in cache.entries:
        coords, w, rho = cache.entries[key]
    else:
        from pyscf import dft

        from .dft import make_mol

        mol = make_mol(frame.numbers, frame.positions, orbital_basis)
        grids = dft.gen_grid.Grids(mol)
        grids.level = 3
        grids.build()
        idx = np.random.default_rng(seed).choice(len(grids.weights), size=min(n_points, len(grids.weights)),
                                                 replace=False)
        coords, w = grids.coords[idx], grids.weights[idx] * len(grids.weights) / len(idx)
        ni = dft.numint.NumInt()
        rho = ni.eval_rho(mol, ni.eval_ao(mol, coords), frame.dm)
        if cache is not None:
            cache.entries[key] = (np.asarray(coords), np.asarray(w), np.asarray(rho))
            cache.new += 1
    g = GridPoints(np.ascontiguousarray(coords), torch.tensor(w, dtype=dtype), torch.tensor(rho, dtype=dtype),
                   None, np.asarray(frame.numbers), np.asarray(frame.positions), density_basis)
    if store_phi:
        g.phi = g.values()
    return g


def phi_bytes(frames, tables, elements: list[str], n_points: int, dtype: torch.dtype) -> float:
    """Memory (bytes) of stored phi for ``frames`` (n_points per frame)."""
    from ase.data import chemical_symbols

    per_el = dict(zip(elements, tables.n_functions, strict=True))
    n_flat = sum(per_el[chemical_symbols[int(z)]] for f in frames for z in f.numbers)
    return float(n_flat) * n_points * torch.finfo(dtype).bits / 8


def make_samples(frames, elements: list[str], tables, cutoff: float, dtype: torch.dtype,
                 density_basis: dict | None, with_j: bool = True, orbital_basis: dict | None = None,
                 grid_points: int = 0, store_phi: bool = True, grid_cache: GridCache | None = None) -> list[Sample]:
    from ase.data import chemical_symbols

    from .model.observables import density_mol, padded_coefficients
    from .neighbors import neighbor_graph

    out = []
    for f in frames:
        types = np.array([elements.index(chemical_symbols[int(z)]) for z in f.numbers])
        ei, sh = neighbor_graph(f.positions, cutoff, f.cell, f.pbc)
        coeffs = j = None
        if f.coeffs is not None and tables is not None:
            coeffs = torch.tensor(padded_coefficients(f.coeffs, types, tables.n_functions, tables.max_functions),
                                  dtype=dtype)
            if with_j:
                j = torch.tensor(density_mol(f.numbers, f.positions, density_basis).intor("int2c2e"), dtype=dtype)
        t = (lambda x: None if x is None else torch.tensor(np.asarray(x), dtype=dtype))  # noqa: E731
        grid = None
        if grid_points and f.dm is not None and orbital_basis:
            grid = grid_sample(f, density_basis, orbital_basis, grid_points, int(f.index), dtype, store_phi,
                               grid_cache)
        out.append(Sample(t(f.positions), torch.tensor(types), torch.tensor(ei), t(sh), coeffs,
                          None if f.energy is None else float(f.energy), t(f.forces), t(f.dipole), j, grid,
                          float(f.weight)))
    return out


def collate(samples: list[Sample]) -> dict:
    off = np.cumsum([0] + [len(s.types) for s in samples])
    b = {K.POSITIONS: torch.cat([s.positions for s in samples]), K.TYPES: torch.cat([s.types for s in samples]),
         K.EDGE_INDEX: torch.cat([s.edge_index + int(o) for s, o in zip(samples, off, strict=False)], 1),
         K.EDGE_SHIFT: torch.cat([s.edge_shift for s in samples]),
         K.BATCH: torch.cat([torch.full((len(s.types),), k) for k, s in enumerate(samples)]),
         K.NUM_GRAPHS: len(samples), "n_atoms": torch.tensor([len(s.types) for s in samples]),
         "samples": samples, "offsets": off}
    return b


def normalisation(samples: list[Sample], tables, atom_energies: dict[str, float], elements: list[str]):
    """(coeff_scale [T, F], energy_shift [T] eV, energy_scale eV) from training samples only."""
    t_n, f_max = len(elements), tables.max_functions
    sq = np.zeros((t_n, f_max))
    cnt = np.zeros(t_n)
    for s in samples:
        if s.coeffs is None:
            continue
        types = s.types.numpy()
        d = s.coeffs.double().numpy() - tables.sad[types]
        np.add.at(sq, types, d**2)
        np.add.at(cnt, types, 1)
    scale = np.ones((t_n, f_max))
    for t in range(t_n):
        for sid in range(tables.shell_id[t].max() + 1):
            m = tables.shell_id[t] == sid
            if cnt[t] > 0:
                scale[t, m] = np.sqrt(sq[t, m].sum() / (cnt[t] * m.sum()))
        valid = tables.shell_id[t] >= 0
        floor = 1e-3 * scale[t, valid].max() if cnt[t] > 0 else 1.0
        scale[t, valid] = np.maximum(scale[t, valid], floor)
    base = np.array([atom_energies.get(e, 0.0) for e in elements])
    rows = [np.bincount(s.types.numpy(), minlength=t_n) for s in samples if s.energy is not None]
    shift, e_scale = base.copy(), 1.0
    if rows:
        a = np.array(rows, dtype=float)
        y = np.array([s.energy for s in samples if s.energy is not None]) - a @ base
        sol, *_ = np.linalg.lstsq(a, y, rcond=None)
        shift = base + sol
        f = [s.forces.double().numpy().ravel() for s in samples if s.forces is not None]
        e_scale = float(np.sqrt(np.mean(np.concatenate(f) ** 2))) if f else float(np.std(y - a @ sol) + 1e-3)
    return scale, shift, max(e_scale, 1e-3)


# ---------------------------------------------------------------------------------------------- losses


def _mean_over_molecules(pred: torch.Tensor, batch: dict, tables_nf: torch.Tensor, per_molecule) -> torch.Tensor:
    """Mean over the batch's molecules of ``per_molecule(sample, pred_m, mask_m)``: pred_m [n_atoms_m, F] is the
    molecule's slice of pred [N, F] (padded per atom, PySCF order), mask_m [n_atoms_m, F] marks real functions."""
    types = batch[K.TYPES]
    mask = torch.arange(pred.shape[1]).unsqueeze(0) < tables_nf.index_select(0, types).unsqueeze(1)
    off = batch["offsets"]
    total = pred.new_zeros(())
    for k, s in enumerate(batch["samples"]):
        sl = slice(int(off[k]), int(off[k + 1]))
        total = total + per_molecule(s, pred[sl], mask[sl])
    return total / len(batch["samples"])


def coulomb_loss(pred: torch.Tensor, batch: dict, tables_nf: torch.Tensor) -> torch.Tensor:
    """Mean over molecules of (c - c*)^T J (c - c*) (Hartree). pred [N, F] padded PySCF order."""

    def one(s, p: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        e = (p - s.coeffs)[m]
        return e @ (s.j @ e)

    return _mean_over_molecules(pred, batch, tables_nf, one)


def l1_loss(pred: torch.Tensor, batch: dict, tables_nf: torch.Tensor) -> torch.Tensor:
    """Mean over molecules of 100 * int |rho_pred - rho_KS| / N_el on sampled grid points (eps_rho, %)."""

    def one(s, p: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        g = s.grid
        return 100.0 * (g.w * (g.values() @ p[m] - g.rho).abs()).sum() / (g.rho * g.w).sum()

    return _mean_over_molecules(pred, batch, tables_nf, one)


def batch_loss(model, batch: dict, w: dict, nf: torch.Tensor, stage: str, train: bool) -> tuple[torch.Tensor, dict]:
    from .model.network import compute_properties

    need_e = w.get("energy_weight", 0) > 0 or w.get("force_weight", 0) > 0
    need_f = w.get("force_weight", 0) > 0
    with torch.set_grad_enabled(train or need_f):
        out = compute_properties(model, batch[K.POSITIONS], batch[K.TYPES], batch[K.EDGE_INDEX],
                                 batch[K.EDGE_SHIFT], batch[K.BATCH], batch[K.NUM_GRAPHS], forces=need_f,
                                 energy=need_e, create_graph=train and need_f)
    samples = batch["samples"]
    loss = torch.zeros((), dtype=batch[K.POSITIONS].dtype)
    m: dict[str, float] = {}
    if w.get("density_weight", 0) > 0 and samples[0].coeffs is not None:
        kind = w.get("density_loss", "coulomb")
        lr = coulomb_loss(out[K.COEFFS], batch, nf)
        m["rho_coulomb"] = lr.item()
        if samples[0].grid is not None:
            l1 = l1_loss(out[K.COEFFS], batch, nf)
            m["rho_l1_percent"] = l1.item()
            lr = l1 if kind == "l1" else lr + 0.01 * l1 if kind == "both" else lr
        loss = loss + w["density_weight"] * lr
    wf = torch.tensor([s.weight for s in samples], dtype=loss.dtype)  # per-frame loss weights [B]
    if need_e:
        e_ref = torch.tensor([s.energy for s in samples], dtype=loss.dtype)
        de = (out[K.ENERGY] - e_ref) / batch["n_atoms"]
        loss = loss + w["energy_weight"] * (wf * de**2).mean()
        m["e_mae_per_atom"] = de.abs().mean().item()
    if need_f:
        df = out[K.FORCES] - torch.cat([s.forces for s in samples])
        wa = torch.repeat_interleave(wf, batch["n_atoms"]).unsqueeze(1)  # [N, 1]
        loss = loss + w["force_weight"] * (wa * df**2).mean()
        m["f_mae"] = df.abs().mean().item()
    if w.get("dipole_weight", 0) > 0 or samples[0].dipole is not None:
        dmu = out[K.DIPOLE] - torch.stack([s.dipole for s in samples])
        if w.get("dipole_weight", 0) > 0:
            loss = loss + w["dipole_weight"] * (wf.unsqueeze(1) * dmu**2).mean()
        m["mu_mae"] = dmu.abs().mean().item()
    m["loss"] = loss.item()
    return loss, m


# ---------------------------------------------------------------------------------------------- EMA


class EMA:
    """Exponential moving average of the trainable parameters (state_dict-able)."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.named_parameters()}

    def update(self, model: torch.nn.Module) -> None:
        with torch.no_grad():
            for k, v in model.named_parameters():
                if v.requires_grad:
                    self.shadow[k].mul_(self.decay).add_(v.detach(), alpha=1 - self.decay)

    def reset(self, model: torch.nn.Module) -> None:
        self.shadow = {k: v.detach().clone() for k, v in model.named_parameters()}

    def swap(self, model: torch.nn.Module) -> None:
        """Exchange model parameters and shadow (call twice to undo)."""
        with torch.no_grad():
            for k, v in model.named_parameters():
                tmp = v.detach().clone()
                v.copy_(self.shadow[k])
                self.shadow[k] = tmp

    def state_dict(self) -> dict:
        return {"decay": self.decay, "shadow": self.shadow}

    def load_state_dict(self, d: dict) -> None:
        self.decay = d["decay"]
        self.shadow = {k: v.clone() for k, v in d["shadow"].items()}


# ---------------------------------------------------------------------------------------------- trainer

LOG_FIELDS = ["stage", "epoch", "lr", "train_loss", "val_loss", "val_rho_coulomb", "val_rho_l1_percent",
              "val_e_mae_per_atom", "val_f_mae", "val_mu_mae", "seconds"]


#: state-dict prefixes of the density network (with its normalisation and basis tables); the rest is energy
DENSITY_PARTS = (*DENSITY_MODULES, "coeff_scale", *PRECISE_BUFFERS)


def network_of(key: str) -> str:
    """'density' or 'energy': the network a state-dict entry belongs to."""
    return "density" if key.split(".")[0] in DENSITY_PARTS else "energy"


def select_train_frames(frames: list, fraction: float | None = None, max_frames: int | None = None) -> list:
    """The training frames used: an evenly spaced ``fraction`` of ``frames`` (all when None; frames k / fraction,
    k = 0, 1, ...), then the first ``max_frames`` of those (all when None)."""
    if fraction is not None and fraction < 1:
        n = max(1, int(round(fraction * len(frames))))
        frames = [frames[i] for i in sorted({int(k * len(frames) / n) for k in range(n)})]
    return frames[:max_frames]


def load_weighted(data, weights: list[float] | None):
    """``densnet.dataset.load`` of ``data`` (a path or a list), each frame's ``weight`` set from ``weights``
    (one per dataset of the list)."""
    from .dataset import load, merge

    if weights is None:
        return load(data)
    paths = data if isinstance(data, list) else [data]
    if len(weights) != len(paths):
        raise DensnetError(f"data_weights has {len(weights)} entries for {len(paths)} datasets in data")
    parts = [load(p) for p in paths]
    for part, wt in zip(parts, weights, strict=True):
        for f in part.frames:
            f.weight = float(wt)
    return merge(parts, [str(p) for p in paths])


def warm_start(model, path: str | Path, networks: tuple[str, ...] = ("density", "energy")) -> str:
    """Copy into ``model`` every tensor of ``networks`` of the model in ``path`` with the same name and shape (the
    normalisation buffers included, so copied weights keep their scales); the rest keeps its fresh initialisation.

    Raises DensnetError if the elements or the density basis differ. Returns a one-line summary.
    """
    from . import io_model

    data = io_model.read(path)
    if list(data["elements"]) != list(model.elements):
        raise DensnetError(f"init {path}: elements {data['elements']} differ from this dataset's {model.elements}")
    if json.loads(data["density_basis"]) != json.loads(json.dumps(model.density_basis, sort_keys=True)):
        raise DensnetError(f"init {path}: trained on another density basis ({data.get('density_basis_name')}); "
                           "refit the dataset to that basis or start from scratch")
    own = model.state_dict()
    copied = {k: v for k, v in data["model_state"].items()
              if k in own and own[k].shape == v.shape and network_of(k) in networks}
    own.update({k: v.to(own[k].dtype) for k, v in copied.items()})
    model.load_state_dict(own)
    fresh = sorted({k.split(".")[0] for k in own if k not in copied})
    return (f"init from {path}: {len(copied)} of {len(own)} tensors copied"
            + (f"; freshly initialised in: {', '.join(fresh)}" if fresh else ""))


def energy_residuals(model, samples: list[Sample], batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(E_ref - E_model [S] eV, element counts [S, T]) of the samples with energies, evaluated in float64."""
    from .model.network import compute_properties

    m64 = copy.deepcopy(model).to(torch.float64).eval()
    with_e = [s for s in samples if s.energy is not None]
    res, counts = [], []
    for i in range(0, len(with_e), batch_size):
        b = collate(with_e[i : i + batch_size])
        with torch.no_grad():
            out = compute_properties(m64, b[K.POSITIONS].double(), b[K.TYPES], b[K.EDGE_INDEX],
                                     b[K.EDGE_SHIFT].double(), b[K.BATCH], b[K.NUM_GRAPHS], forces=False)
        res.append(np.array([s.energy for s in b["samples"]]) - out[K.ENERGY].numpy())
        counts += [np.bincount(s.types.numpy(), minlength=len(model.energy_shift)) for s in b["samples"]]
    return np.concatenate(res) if res else np.zeros(0), np.array(counts, dtype=float)


def refit_energy_shift(model, train: list[Sample], val: list[Sample], batch_size: int) -> dict:
    """Add to model.energy_shift [T] the least-squares per-element correction of the training energies.

    Minimises sum_i w_i ((E_ref,i - E_i - n_i . delta) / N_i)^2 (the per-atom energy loss, frame weights w_i);
    minimum-norm delta where compositions do not fix it (e.g. C4n H2n+2 Sn chains). Forces are unchanged.
    Returns the correction (eV/atom per element) and the validation energy MAE per atom before and after.
    """
    r, a = energy_residuals(model, train, batch_size)
    if not len(r):
        return {}
    w = np.sqrt(np.array([s.weight for s in train if s.energy is not None])) / a.sum(1)
    delta, *_ = np.linalg.lstsq(a * w[:, None], r * w, rcond=None)
    rv, av = energy_residuals(model, val, batch_size)
    before = float(np.mean(np.abs(rv) / av.sum(1))) if len(rv) else float("nan")
    with torch.no_grad():
        model.energy_shift += torch.as_tensor(delta, dtype=model.energy_shift.dtype)
    after = float(np.mean(np.abs(rv - av @ delta) / av.sum(1))) if len(rv) else float("nan")
    return {"delta_ev_per_atom": delta.tolist(), "val_e_mae_per_atom_before": before,
            "val_e_mae_per_atom_after": after}


class Trainer:
    """Runs the stages of ``cfg`` in ``cfg['output']``: last.ckpt (resume), model.ckpt (best), log.csv."""

    def __init__(self, cfg: dict) -> None:
        from .model import build_model, build_tables

        self.cfg = cfg
        torch.set_num_threads(int(cfg["threads"]))
        self.out = Path(cfg["output"])
        self.out.mkdir(parents=True, exist_ok=True)
        self.dtype = torch.float32 if cfg["dtype"] == "float32" else torch.float64
        ds = load_weighted(cfg["data"], cfg.get("data_weights"))
        if ds.density_basis is None:
            raise DensnetError(f"{cfg['data']}: no density basis (train needs a dataset from densnet label)")
        self.elements = ds.elements
        self.provenance = _provenance(ds)
        self.tables = build_tables(self.elements, ds.density_basis, ds.sad_coeffs)
        torch.manual_seed(int(cfg["seed"]))
        self.model = build_model(self.tables, cfg["model"], ds.density_basis)
        train_frames = select_train_frames(ds.split("train"), cfg.get("train_fraction"), cfg.get("max_train_frames"))
        if not train_frames or not ds.split("val"):
            raise DensnetError(f"{cfg['data']}: needs frames in both the train and val splits")
        n_grid = int(cfg["grid_points"])
        if cfg["density_loss"] != "coulomb" and (ds.orbital_basis is None or any(f.dm is None for f in train_frames)):
            raise DensnetError(f"{cfg['data']}: density_loss {cfg['density_loss']!r} needs stored density matrices "
                               "(densnet label --store-dm float32); use density_loss: coulomb")
        val_frames = ds.split("val")
        # Coulomb matrices and grid points serve only the density loss: an energy-only run (a new energy network
        # on a trained density network) skips them, which saves most of the memory for long oligomers
        density = any(cfg["stages"][s]["epochs"] > 0 for s in ("density", "joint"))
        n_grid = n_grid if density else 0
        need = phi_bytes(train_frames + val_frames, self.tables, self.elements, n_grid, self.dtype)
        self.store_phi = need <= PHI_MEMORY_BUDGET
        cache = GridCache(self.out / "grid_cache.npz", json.dumps(ds.level_of_theory, sort_keys=True, default=str))
        mk = (lambda fr, n: make_samples(fr, self.elements, self.tables, self.model.cutoff,  # noqa: E731
                                         self.dtype, ds.density_basis, with_j=density, orbital_basis=ds.orbital_basis,
                                         grid_points=n, store_phi=self.store_phi, grid_cache=cache))
        # val frames always get grid points: the relative L1 density error is logged whatever the loss
        self.train_set = mk(train_frames, n_grid if cfg["density_loss"] != "coulomb" else 0)
        self.val_set = mk(val_frames, n_grid)
        cache.save()
        scale, shift, e_scale = normalisation(self.train_set, self.tables, ds.atom_energies, self.elements)
        self.model.set_normalisation(scale, shift, e_scale)
        self.init_report = (warm_start(self.model, cfg["init"], tuple(cfg.get("init_networks", ("density", "energy"))))
                            if cfg.get("init") else None)
        self.model = self.model.to(self.dtype)
        self.nf = torch.tensor(self.tables.n_functions)
        self.gen = torch.Generator().manual_seed(int(cfg["seed"]))
        self.stage_idx, self.epoch, self.csv_rows = 0, 0, 0
        self.best_record: dict = {}  # {"stage", "loss"} of the weights in model.ckpt
        self.shift_refit: dict | None = None  # refit_energy_shift's report once done
        self._start_stage()

    # ---------------------------------------------------------------- stage set-up
    def _stage_params(self, stage: str) -> list[torch.nn.Parameter]:
        dens, en = self.model.density_parameters(), self.model.energy_parameters()
        for p in self.model.parameters():
            p.requires_grad_(False)
        params = {"density": dens, "energy": en, "joint": dens + en}[stage]
        for p in params:
            p.requires_grad_(True)
        return params

    def _start_stage(self) -> None:
        stage = self.stage
        sc = self.cfg["stages"].get(stage, {}) if stage else {}
        if stage is None:
            return
        self.params = self._stage_params(stage)
        self.opt = torch.optim.Adam(self.params, lr=float(sc["lr"]))
        self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(self.opt, factor=float(self.cfg["lr_factor"]),
                                                                patience=int(self.cfg["lr_patience"]))
        self.ema = EMA(self.model, float(self.cfg["ema_decay"]))
        self.best_val, self.bad_epochs = float("inf"), 0
        self.best_state = copy.deepcopy(self.model.state_dict())

    @property
    def stage(self) -> str | None:
        active = [s for s in STAGES if self.cfg["stages"][s]["epochs"] > 0]
        return active[self.stage_idx] if self.stage_idx < len(active) else None

    def weights(self, stage: str) -> dict:
        sc = self.cfg["stages"][stage]
        w = {k: float(sc.get(k, 0.0)) for k in ("density_weight", "energy_weight", "force_weight", "dipole_weight")}
        if stage == "density":
            w["energy_weight"] = w["force_weight"] = 0.0
        if stage == "energy":
            w["density_weight"] = 0.0
        w["density_loss"] = self.cfg["density_loss"]  # type: ignore[assignment]
        return w

    # ---------------------------------------------------------------- epochs
    def _epoch(self, stage: str) -> float:
        self.model.train()
        w = self.weights(stage)
        perm = torch.randperm(len(self.train_set), generator=self.gen).tolist()
        bs = int(self.cfg["batch_size"])
        total, n = 0.0, 0
        for s in range(0, len(perm), bs):
            batch = collate([self.train_set[i] for i in perm[s : s + bs]])
            loss, _ = batch_loss(self.model, batch, w, self.nf, stage, train=True)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, float(self.cfg["clip_grad"]))
            self.opt.step()
            self.ema.update(self.model)
            total += loss.item() * batch[K.NUM_GRAPHS]
            n += batch[K.NUM_GRAPHS]
        return total / max(n, 1)

    def validate(self, stage: str) -> dict:
        self.model.eval()
        w = self.weights(stage)
        sums: dict[str, float] = {}
        n = 0
        bs = int(self.cfg["batch_size"])
        for s in range(0, len(self.val_set), bs):
            batch = collate(self.val_set[s : s + bs])
            _, m = batch_loss(self.model, batch, w, self.nf, stage, train=False)
            for k, v in m.items():
                sums[k] = sums.get(k, 0.0) + v * batch[K.NUM_GRAPHS]
            n += batch[K.NUM_GRAPHS]
        return {k: v / n for k, v in sums.items()}

    def run(self, progress: bool = True, stop_after: int | None = None) -> Path:
        """Run all remaining epochs (``stop_after``: return after that many epochs, as if killed)."""
        from tqdm import tqdm

        done = 0
        log = self.out / "log.csv"
        if progress and self.init_report and self.csv_rows == 0:
            print(self.init_report, flush=True)
        if progress and not self.store_phi:
            print(f"density-basis values on the grid points exceed {PHI_MEMORY_BUDGET / 1e9:g} GB: evaluated per "
                  "batch instead of stored (slower density stage, same numbers)", flush=True)
        if self.csv_rows == 0 or not log.exists():
            with log.open("w", newline="") as fh:
                csv.writer(fh, lineterminator="\n").writerow(LOG_FIELDS)
        while self.stage is not None:
            stage = self.stage
            sc = self.cfg["stages"][stage]
            bar = tqdm(total=int(sc["epochs"]), initial=self.epoch, desc=f"{stage}", disable=not progress)
            while self.epoch < int(sc["epochs"]) and self.bad_epochs < int(sc["patience"]):
                if stop_after is not None and done >= stop_after:
                    bar.close()
                    return self.out / "model.ckpt"
                done += 1
                t0 = time.perf_counter()
                train_loss = self._epoch(stage)
                self.ema.swap(self.model)
                val = self.validate(stage)
                if val["loss"] < self.best_val:
                    self.best_val, self.bad_epochs = val["loss"], 0
                    self.best_state = copy.deepcopy(self.model.state_dict())
                    self._save_best()
                else:
                    self.bad_epochs += 1
                self.ema.swap(self.model)
                self.sched.step(val["loss"])
                self.epoch += 1
                row = [stage, self.epoch, self.opt.param_groups[0]["lr"], train_loss, val["loss"]] + [
                    val.get(k, "") for k in ("rho_coulomb", "rho_l1_percent", "e_mae_per_atom", "f_mae", "mu_mae")] + [
                    round(time.perf_counter() - t0, 3)]
                with log.open("a", newline="") as fh:
                    csv.writer(fh, lineterminator="\n").writerow(row)
                self.csv_rows += 1
                self.save_checkpoint()
                bar.update(1)
                bar.set_postfix(train=f"{train_loss:.3g}", val=f"{val['loss']:.3g}")
            bar.close()
            self.model.load_state_dict(self.best_state)
            self.stage_idx += 1
            self.epoch = 0
            self._start_stage()
            self.save_checkpoint()
        if self.shift_refit is None and self._energy_trained():
            self.shift_refit = {}
            if self.cfg["refit_energy_shift"]:
                self.shift_refit = refit_energy_shift(self.model, self.train_set, self.val_set,
                                                      int(self.cfg["batch_size"]))
                if progress and self.shift_refit:
                    r = self.shift_refit
                    d = ", ".join(f"{e} {1e3 * x:+.3g}" for e, x in zip(self.elements, r["delta_ev_per_atom"],
                                                                        strict=True))
                    print(f"energy shifts refitted ({d} meV/atom): val energy MAE "
                          f"{1e3 * r['val_e_mae_per_atom_before']:.3g} -> "
                          f"{1e3 * r['val_e_mae_per_atom_after']:.3g} meV/atom", flush=True)
                self._save_best()
            self.save_checkpoint()
        return self.out / "model.ckpt"

    def _energy_trained(self) -> bool:
        st = self.cfg["stages"]
        return any(st[s]["epochs"] > 0 and (st[s].get("energy_weight", 0) > 0 or st[s].get("force_weight", 0) > 0)
                   for s in ("energy", "joint"))

    # ---------------------------------------------------------------- checkpoints
    def _save_best(self) -> None:
        from . import io_model

        if self.stage is not None:
            self.best_record = {"stage": self.stage, "loss": self.best_val}
        io_model.save(self.out / "model.ckpt", self.model, {"train_config": json.dumps(self.cfg),
                                                           "best_val": self.best_record,
                                                           "energy_shift_refit": self.shift_refit or {},
                                                           **self.provenance})

    def save_checkpoint(self) -> None:
        from . import io_model

        st = None
        if self.stage is not None:
            st = {"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                  "ema": self.ema.state_dict(), "best_state": self.best_state}
        io_model.save(self.out / "last.ckpt", self.model, {
            "train_config": json.dumps(self.cfg), "stage_idx": self.stage_idx, "epoch": self.epoch,
            "best_val": self.best_val, "bad_epochs": self.bad_epochs, "csv_rows": self.csv_rows,
            "best_record": self.best_record, "shift_refit": self.shift_refit,
            "generator": self.gen.get_state(), "torch_rng": torch.get_rng_state(), "stage_state": st,
            **self.provenance})

    def restore(self, path: Path) -> None:
        """Continue from ``last.ckpt`` exactly where it stopped."""
        from . import io_model

        d = io_model.read(path)
        self.model.load_state_dict(d["model_state"])
        self.stage_idx, self.epoch = int(d["stage_idx"]), int(d["epoch"])
        self._start_stage()
        self.best_val, self.bad_epochs = float(d["best_val"]), int(d["bad_epochs"])
        self.gen.set_state(d["generator"])
        torch.set_rng_state(d["torch_rng"])
        st = d["stage_state"]
        if st is not None:
            self.opt.load_state_dict(st["optimizer"])
            self.sched.load_state_dict(st["scheduler"])
            self.ema.load_state_dict(st["ema"])
            self.best_state = st["best_state"]
        self.csv_rows = int(d["csv_rows"])
        self.best_record = d.get("best_record") or {}
        if not self.best_record and (self.out / "model.ckpt").is_file():  # checkpoints written before best_record
            self.best_record = io_model.read(self.out / "model.ckpt").get("best_val") or {}
        self.shift_refit = d.get("shift_refit")
        log = self.out / "log.csv"
        if log.exists():
            lines = log.read_bytes().splitlines()[: self.csv_rows + 1]  # any line ending (older logs: CRLF)
            log.write_bytes(b"".join(line + b"\n" for line in lines))


def train(config, resume: bool = False, progress: bool = True) -> Path:
    """Train from a YAML path or dict; returns the path of the best model file."""
    cfg = load_config(config)
    trainer = Trainer(cfg)
    last = Path(cfg["output"]) / "last.ckpt"
    if resume:
        if not last.exists():
            raise DensnetError(f"--resume: no checkpoint {last}")
        trainer.restore(last)
    return trainer.run(progress)

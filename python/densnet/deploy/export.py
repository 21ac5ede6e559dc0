"""Export a trained densnet checkpoint to the TorchScript file LAMMPS reads (export/README.md).

``export_checkpoint(ckpt, out)`` loads the checkpoint safely (``weights_only``), wraps the model in
``densnet.model.contract.ContractModel``, scripts it, writes it with its metadata, loads the written file
back and refuses (deletes) it unless the scripted model reproduces the eager model on a test geometry.
``describe(path)`` gives the metadata of an exported file or a checkpoint as ``(title, [(key, value)])``.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..errors import DensnetError
from .halo import halo_evaluate
from .metadata import MetadataError, ModelMetadata, load_model, read_metadata, save_model
from .reference import OUTPUT_KEYS, build_graph, types_of

CHECK_RTOL = 1e-8  # float64 export: scripted vs eager, relative to the largest magnitude of each output
CHECK_RTOL_FLOAT32 = 1e-4


def checkpoint_provenance(data: dict) -> tuple[str, str]:
    """(density basis name, level of theory) of the data the checkpoint was trained on.

    Checkpoints written by ``densnet train`` store both; for older ones they are looked up in the index of
    the dataset named in ``train_config``. Returns ``"unknown (...)"`` strings when neither is available.
    """
    if "density_basis_name" in data and "level_of_theory" in data:
        return str(data["density_basis_name"]), str(data["level_of_theory"])
    try:
        cfg = json.loads(data.get("train_config", "{}"))
    except (TypeError, json.JSONDecodeError):
        cfg = {}
    data_path = cfg.get("data") if isinstance(cfg, dict) else None
    if isinstance(data_path, list):  # several datasets: they share the level of theory (densnet.dataset.merge)
        data_path = data_path[0] if data_path else None
    if not data_path or not Path(data_path).is_file():
        why = "training dataset not recorded" if not data_path else f"training dataset {data_path} not found"
        return f"unknown ({why})", f"unknown ({why})"
    try:
        from ..dataset import read_index

        info = read_index(Path(data_path))
        basis = str(info["settings"]["level_of_theory"]["density_basis"])
        level = str(info["level_of_theory"])
    except (DensnetError, KeyError, TypeError, OSError) as exc:
        return f"unknown ({exc})", f"unknown ({exc})"
    return basis, level


def probe_structure(elements: list[str], seed: int = 0):
    """A small non-symmetric periodic test structure (ASE Atoms): a random walk of 1.2 A steps through two
    atoms of each element (no two atoms closer than 1.0 A) in a cell 2 A wider than the walk, so that
    edges cross the cell boundary."""
    from ase import Atoms

    rng = np.random.default_rng(seed)
    symbols = [e for _ in range(2) for e in elements]
    pos = [np.zeros(3)]
    while len(pos) < len(symbols):
        step = rng.normal(size=3)
        p = pos[-1] + 1.2 * step / np.linalg.norm(step)
        if all(np.linalg.norm(p - q) >= 1.0 for q in pos):
            pos.append(p)
    arr = np.array(pos) - np.min(pos, axis=0)
    return Atoms(symbols, positions=arr, cell=np.max(arr, axis=0) + 2.0, pbc=True)


def _run(module: torch.nn.Module, atoms, md: ModelMetadata, device: str) -> dict[str, np.ndarray]:
    ei, shift, _ = build_graph(atoms, md.cutoff)
    out = module(
        torch.as_tensor(atoms.positions, dtype=md.torch_dtype, device=device),
        torch.as_tensor(types_of(atoms, md.elements), device=device),
        torch.as_tensor(ei, device=device),
        torch.as_tensor(shift, dtype=md.torch_dtype, device=device),
        torch.tensor(len(atoms), dtype=torch.int64, device=device),
    )
    return {k: out[k].detach().to("cpu", torch.float64).numpy() for k in OUTPUT_KEYS}


def compare_outputs(a: dict[str, np.ndarray], b: dict[str, np.ndarray], rtol: float) -> list[str]:
    """Names (with the deviation) of the outputs where ``a`` and ``b`` differ by more than ``rtol`` relative."""
    bad = []
    for k in OUTPUT_KEYS:
        scale = max(float(np.abs(b[k]).max(initial=0.0)), 1e-12)
        err = float(np.abs(a[k] - b[k]).max(initial=0.0)) if a[k].shape == b[k].shape else float("inf")
        if not err <= rtol * scale:
            bad.append(f"{k} (max deviation {err:.2e}, scale {scale:.2e})")
    return bad


def export_checkpoint(
    checkpoint: str | Path, output: str | Path, dtype: str = "float64", device: str = "cpu"
) -> ModelMetadata:
    """Write ``output`` (TorchScript + metadata) from the training checkpoint ``checkpoint``.

    dtype: "float64" or "float32" (weights and inputs of the exported model); device: "cpu" or "cuda".
    Raises DensnetError for unreadable checkpoints or when the re-loaded file disagrees with the eager model
    (nothing is left at ``output`` then).
    """
    from .. import io_model
    from ..model.contract import ContractModel

    if dtype not in ("float64", "float32"):
        raise DensnetError(f"dtype must be float64 or float32, not {dtype!r}")
    if device not in ("cpu", "cuda"):
        raise DensnetError(f"device must be cpu or cuda, not {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise DensnetError("--device cuda: this torch build or machine has no CUDA device")
    checkpoint = _zip_or_error(checkpoint)
    data = io_model.read(checkpoint)  # refuses exported TorchScript files with a clear message
    tdtype = torch.float64 if dtype == "float64" else torch.float32
    model = io_model.model_from_dict(data, tdtype).to(device)
    basis, level = checkpoint_provenance(data)
    md = ModelMetadata(
        elements=tuple(model.elements),
        cutoff=float(model.cutoff),
        receptive_field=int(model.receptive_field),
        dtype=dtype,
        device=device,
        basis=basis,
        level_of_theory=level,
        checkpoint_sha256=hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
    )
    eager = ContractModel(model).eval()
    output = Path(output)
    tmp = output.with_name(output.name + f".tmp{os.getpid()}")
    try:
        save_model(eager, tmp, md)
        scripted, md_back = load_model(tmp, map_location=device)
        if md_back != md:
            raise DensnetError(f"metadata read back from {output} differs from what was written")
        atoms = probe_structure(list(md.elements))
        ref = _run(eager, atoms, md, device)
        got = _run(scripted, atoms, md, device)
        got2 = _run(scripted, atoms, md, device)  # the optimising executor recompiles on later calls
        rtol = CHECK_RTOL if dtype == "float64" else CHECK_RTOL_FLOAT32
        bad = compare_outputs(got, ref, rtol) + compare_outputs(got2, ref, rtol)
        # halo mode (LAMMPS on several ranks): the stage methods over two simulated domains
        frac = atoms.get_scaled_positions(wrap=True)
        halo = halo_evaluate(scripted, atoms, (frac[:, 0] >= 0.5).astype(int), md, device)
        bad += [f"halo mode: {b}" for b in compare_outputs(halo, ref, rtol)]
        if bad:
            raise DensnetError("the scripted model disagrees with the eager model on a test geometry: "
                               f"{', '.join(bad)}; {output} not written")
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return md


def describe(path: str | Path) -> tuple[str, list[tuple[str, str]]]:
    """Title and (key, value) rows describing an exported model (.pt) or a training checkpoint.

    Raises DensnetError with a one-line message for missing, corrupt or foreign files.
    """
    from .. import io_model

    path = _zip_or_error(path)
    if io_model.is_torchscript(path):
        try:
            md = read_metadata(path)
        except MetadataError as exc:
            raise DensnetError(str(exc)) from None
        rows = [(k, ", ".join(v) if isinstance(v, list) else str(v)) for k, v in json.loads(md.to_json()).items()]
        rows.append(("LAMMPS modes", "shift, ghost, halo" if has_halo_methods(path) else
                     "shift, ghost (no halo-mode methods: exported by an older densnet; re-export for MPI halo mode)"))
        return f"densnet exported model {path} (TorchScript, for LAMMPS)", rows
    data = io_model.read(path)  # DensnetError for corrupt/foreign files
    cfg = data.get("model_config", {})
    model = io_model.model_from_dict(data)
    n_params = sum(int(p.numel()) for p in model.parameters())
    basis, level = checkpoint_provenance(data)
    rows = [
        ("format", f"{data['format']} v{data['format_version']}"),
        ("densnet_version", str(data.get("densnet_version"))),
        ("elements", ", ".join(model.elements)),
        ("cutoff", str(model.cutoff)),
        ("receptive_field", str(model.receptive_field)),
        ("parameters", str(n_params)),
        ("basis", basis),
        ("level_of_theory", level),
        ("model_config", json.dumps(cfg, sort_keys=True)),
    ]
    if "best_val" in data:
        rows.append(("best_val", json.dumps(data["best_val"])))
    if data.get("energy_shift_refit"):
        rows.append(("energy_shift_refit", json.dumps(data["energy_shift_refit"])))
    return f"densnet model checkpoint {path}", rows


def has_halo_methods(path: str | Path) -> bool:
    """Whether an exported file carries the halo-mode stage methods (read from the archive's TorchScript code,
    without loading the model)."""
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.endswith("densnet/model/contract.py") and b"def halo_stage(" in z.read(name):
                return True
    return False


def _zip_or_error(path: str | Path) -> Path:
    """``path`` if it is a zip archive (torch checkpoints and TorchScript files are); else DensnetError."""
    path = Path(path)
    if not path.is_file():
        raise DensnetError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise DensnetError(f"{path}: not a densnet model file (neither a checkpoint nor an exported model: "
                           "not a zip archive; truncated or foreign?)")
    return path

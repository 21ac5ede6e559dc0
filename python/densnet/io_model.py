"""Saving and loading densnet model files (checkpoints): plain dicts of tensors + config, weights_only-safe.

A model file holds ``format`` / ``format_version``, the model's hyper-parameters, element list, per-element
irreps, padded width, the density basis (JSON) and ``model_state`` (the inference weights: EMA of the best
validation epoch), optionally the training state for ``--resume``. Never a pickled module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from . import __version__
from .errors import DensnetError

FORMAT = "densnet-model"
FORMAT_VERSION = 2
#: version 2: fused per-edge tensor products, per-element weights gathered by type, one shared edge
#: embedding, float64 electron-bookkeeping buffers (model/network.py). Version-1 weights do not map onto it.


def model_header(model) -> dict:
    """Everything needed to rebuild ``model`` (a DensNet) except the tensors."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "densnet_version": __version__,
            "model_config": dict(model.config), "elements": list(model.elements),
            "element_irreps": list(model.element_irreps), "f_max": int(model.sad.shape[1]),
            "density_basis": json.dumps(model.density_basis, sort_keys=True)}


def save(path: str | Path, model, extra: dict | None = None) -> None:
    """Write ``model`` (+ ``extra`` plain data / state dicts) atomically to ``path``."""
    path = Path(path)
    data = {**model_header(model), "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    data.update(extra or {})
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(data, tmp)
    os.replace(tmp, path)


def read(path: str | Path) -> dict:
    """The raw checkpoint dict (weights_only=True); DensnetError for missing, corrupt or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise DensnetError(f"{path}: no such model file")
    if is_torchscript(path):
        raise DensnetError(f"{path}: an exported TorchScript model (densnet-export output, for LAMMPS); "
                           "densnet.load and densnet evaluate read training checkpoints (model.ckpt); "
                           "see the exported file's metadata with densnet info")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DensnetError(f"{path}: not a readable densnet model file ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise DensnetError(f"{path}: not a densnet model file (format {found!r}, expected {FORMAT!r})")
    if data.get("format_version") == 1:
        raise DensnetError(f"{path}: model format version 1 (densnet {data.get('densnet_version')}) uses the old "
                           f"network layout, which this densnet {__version__} (format {FORMAT_VERSION}) cannot "
                           "load: retrain the model with this version (densnet train), or use the densnet "
                           "version that wrote it")
    if data.get("format_version") != FORMAT_VERSION:
        raise DensnetError(f"{path}: model format version {data.get('format_version')!r} (densnet "
                           f"{data.get('densnet_version')}); this densnet {__version__} reads {FORMAT_VERSION}")
    return data


def is_torchscript(path: str | Path) -> bool:
    """True for a TorchScript archive (a zip holding ``<name>/constants.pkl`` or ``<name>/code/...``)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("/constants.pkl") or "/code/" in n for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def model_from_dict(data: dict, dtype: torch.dtype = torch.float64, state_key: str = "model_state"):
    """Rebuild a DensNet from a checkpoint dict."""
    from .model.network import DensNet

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model = DensNet(data["element_irreps"], data["f_max"], data["model_config"], data["elements"],
                        json.loads(data["density_basis"]))
    finally:
        torch.set_default_dtype(old)
    try:
        model.load_state_dict(data[state_key])
    except (RuntimeError, KeyError) as exc:
        raise DensnetError(f"model weights do not match the stored architecture: {exc}") from None
    return model.to(dtype).eval()


def load(path: str | Path, dtype: torch.dtype = torch.float64, device: str = "cpu"):
    """Load a trained model (inference weights) from ``path``; float64 by default."""
    return model_from_dict(read(path), dtype).to(device)

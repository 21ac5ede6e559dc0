"""Metadata of an exported densnet model and the TorchScript file that carries it.

The exported file is a TorchScript archive whose ``_extra_files["metadata.json"]`` holds a flat JSON
object (export/README.md, "Metadata"). :func:`save_model` writes such a file, :func:`load_model` loads
module + metadata, :func:`read_metadata` reads only the metadata (no model deserialisation).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

FORMAT = "densnet-lammps"
FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
DTYPES = ("float64", "float32")


class MetadataError(ValueError):
    """The file is not a densnet model, or its metadata is missing, malformed or incompatible."""


def _densnet_version() -> str:
    try:
        from importlib.metadata import version

        return version("densnet")
    except Exception:  # not installed (running from the source tree)
        return "0.1.0"


@dataclass(frozen=True)
class ModelMetadata:
    """Contents of ``metadata.json``.

    elements: element symbols in model type order; cutoff: edge cutoff in Angstrom;
    receptive_field: message-passing layers of all outputs together (ghost shell = this x cutoff);
    checkpoint_sha256: SHA-256 of the training checkpoint the file was exported from ("": not from a checkpoint).
    """

    elements: tuple[str, ...]
    cutoff: float
    receptive_field: int
    dtype: str = "float64"
    device: str = "cpu"
    units: str = "metal"
    densnet_version: str = field(default_factory=_densnet_version)
    basis: str = ""
    level_of_theory: str = ""
    checkpoint_sha256: str = ""
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "elements", tuple(self.elements))
        self.validate()

    def validate(self, source: str = "<metadata>") -> None:
        """Raise :class:`MetadataError` naming ``source`` and the offending value."""
        if self.format != FORMAT:
            raise MetadataError(f"{source}: metadata format is {self.format!r}, expected {FORMAT!r}")
        if self.format_version != FORMAT_VERSION:
            raise MetadataError(
                f"{source}: metadata format_version is {self.format_version!r}; "
                f"this densnet reads version {FORMAT_VERSION}"
            )
        if not self.elements or not all(isinstance(e, str) and e for e in self.elements):
            raise MetadataError(f"{source}: 'elements' must be a non-empty list of element symbols")
        if len(set(self.elements)) != len(self.elements):
            raise MetadataError(f"{source}: 'elements' has duplicates: {list(self.elements)}")
        if not (isinstance(self.cutoff, int | float) and self.cutoff > 0):
            raise MetadataError(f"{source}: 'cutoff' must be a positive number (Angstrom)")
        if not (isinstance(self.receptive_field, int) and self.receptive_field >= 1):
            raise MetadataError(f"{source}: 'receptive_field' must be a positive integer")
        if self.units != "metal":
            raise MetadataError(f"{source}: units are {self.units!r}; LAMMPS needs 'metal'")
        if self.dtype not in DTYPES:
            raise MetadataError(f"{source}: dtype {self.dtype!r} is not one of {DTYPES}")
        if self.device not in ("cpu", "cuda"):
            raise MetadataError(f"{source}: device {self.device!r} is neither 'cpu' nor 'cuda'")

    @property
    def torch_dtype(self) -> torch.dtype:
        return torch.float64 if self.dtype == "float64" else torch.float32

    def to_json(self) -> str:
        d = asdict(self)
        d["elements"] = list(self.elements)
        d["cutoff"] = float(self.cutoff)
        return json.dumps(d, indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<metadata>") -> ModelMetadata:
        """Build from a parsed JSON object; checks format first so foreign files get a clear error."""
        if not isinstance(data, dict):
            raise MetadataError(f"{source}: metadata.json must hold a JSON object")
        fmt = data.get("format")
        if fmt != FORMAT:
            raise MetadataError(f"{source}: metadata format is {fmt!r}, expected {FORMAT!r}")
        if data.get("format_version") != FORMAT_VERSION:
            raise MetadataError(
                f"{source}: metadata format_version is {data.get('format_version')!r}; "
                f"this densnet reads version {FORMAT_VERSION}"
            )
        known = set(cls.__dataclass_fields__)
        missing = {"elements", "cutoff", "receptive_field"} - set(data)
        if missing:
            raise MetadataError(f"{source}: metadata.json lacks {sorted(missing)}")
        try:
            md = cls(**{k: v for k, v in data.items() if k in known})
        except MetadataError as err:
            raise MetadataError(str(err).replace("<metadata>", source)) from None
        except TypeError as err:
            raise MetadataError(f"{source}: malformed metadata ({err})") from None
        md.validate(source)
        return md

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "<metadata>") -> ModelMetadata:
        if not text:
            raise MetadataError(f"{source}: no {METADATA_FILE} inside: not a densnet model exported for LAMMPS")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise MetadataError(f"{source}: {METADATA_FILE} is not valid JSON ({err})") from None
        return cls.from_dict(data, source)


def save_model(module: torch.nn.Module, path: str | Path, metadata: ModelMetadata) -> Path:
    """Script ``module`` (unless already a ScriptModule) and save it with ``metadata`` to ``path``.

    TorchScript is deprecated upstream (torch 2.13) in favour of torch.export; the C++ plugin still reads
    it. Its deprecation warnings are deliberately not silenced.
    """
    path = Path(path)
    scripted = module if isinstance(module, torch.jit.ScriptModule) else torch.jit.script(module)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(scripted, str(path), _extra_files={METADATA_FILE: metadata.to_json()})
    return path


def read_metadata(path: str | Path) -> ModelMetadata:
    """Metadata of a model file without deserialising the model (TorchScript files are zip archives)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith(f"/extra/{METADATA_FILE}")]
            if not any(n.endswith("/data.pkl") or n.endswith("/constants.pkl") for n in zf.namelist()):
                raise MetadataError(f"{path}: not a TorchScript file")
            text = zf.read(names[0]) if names else b""
    except zipfile.BadZipFile:
        raise MetadataError(f"{path}: not a TorchScript file (not a zip archive)") from None
    return ModelMetadata.from_json(text, str(path))


def model_identity(path: str | Path) -> str:
    """What makes two model files the same model: the SHA-256 of the metadata when it names the source checkpoint
    (two exports of one checkpoint by one densnet version are the same model, although TorchScript never writes the
    same bytes twice), else the SHA-256 of the file."""
    md = read_metadata(path)
    if md.checkpoint_sha256:
        return "metadata:" + hashlib.sha256(md.to_json().encode()).hexdigest()
    return "file:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[torch.jit.ScriptModule, ModelMetadata]:
    """Load an exported model and its validated metadata."""
    path = Path(path)
    md = read_metadata(path)
    extra = {METADATA_FILE: ""}
    try:
        module = torch.jit.load(str(path), map_location=map_location, _extra_files=extra)
    except RuntimeError as err:
        raise MetadataError(f"{path}: cannot load TorchScript model ({str(err).splitlines()[0]})") from None
    module.eval()
    return module, md

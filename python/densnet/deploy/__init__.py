"""Deployment of densnet models: the exported-model contract (export/README.md), a reference toy model,
a pure-Python reference evaluator and the build helper of the LAMMPS plugin."""

from .metadata import (
    FORMAT,
    FORMAT_VERSION,
    MetadataError,
    ModelMetadata,
    load_model,
    read_metadata,
    save_model,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MetadataError",
    "ModelMetadata",
    "load_model",
    "read_metadata",
    "save_model",
]

"""densnet model building blocks (see docs/model.md)."""

from .layout import BasisTables, build_tables, pyscf_from_e3nn
from .network import DEFAULT_MODEL, DensNet, build_model, compute_properties

__all__ = ["DEFAULT_MODEL", "BasisTables", "DensNet", "build_model", "build_tables", "compute_properties",
           "pyscf_from_e3nn"]

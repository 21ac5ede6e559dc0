"""densnet: machine-learned electron densities, energies, forces and dipoles for molecular dynamics."""

__version__ = "0.1.0"


def load(path, dtype=None, device: str = "cpu"):
    """Load a trained densnet model file (float64 by default) -> densnet.model.DensNet."""
    import torch

    from .io_model import load as _load

    return _load(path, dtype or torch.float64, device)


def __getattr__(name: str):
    if name == "DenSNetCalculator":
        from .calculator import DenSNetCalculator

        return DenSNetCalculator
    raise AttributeError(name)

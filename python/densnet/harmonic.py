"""Harmonic vibrational analysis: frequencies and IR intensities from a densnet model (autograd Hessian and
dipole derivatives, or finite differences) or from PySCF DFT at the reference level (analytic Hessian and
dipole derivatives from one CPHF solution; ``--workdir``: restartable optimisation, result kept; ``--method fd``:
central differences of forces and dipoles of 6N displaced geometries labelled with densnet's labeller).

Units: Hessian eV/A^2, dipole derivatives dmu/dR in e (= e*A/A), masses amu, wavenumbers cm^-1,
intensities km/mol = KM_PER_MOL * |dmu/dQ|^2 with Q = sqrt(m) x in A*sqrt(amu), dmu in e*A: the length unit
cancels, so this is the same number as 974.88 |dmu/dQ|^2 with mu in e*bohr and Q in bohr*sqrt(amu).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms, units

from .errors import DensnetError
from .spectra import KM_PER_MOL

#: cm^-1 per sqrt(eV/(A^2 amu)) (angular frequency -> wavenumber), about 521.47
WAVENUMBER_PER_SQRT_EV_A2_AMU = np.sqrt(units._e / (1e-20 * units._amu)) / (2 * np.pi * units._c * 100)


@dataclass
class Modes:
    """Vibrational modes: ``wavenumber`` [M] cm^-1 (negative = imaginary), ``intensity`` [M] km/mol,
    ``vectors`` [M, N, 3] Cartesian displacements (mass-weighted eigenvectors / sqrt(m), normalised)."""

    wavenumber: np.ndarray
    intensity: np.ndarray
    vectors: np.ndarray
    labels: list[str] | None = None  # heuristic assignment per mode (:func:`assign_mode`)

    def assign(self, atoms: Atoms) -> Modes:
        """Fill ``labels`` with :func:`assign_mode` of every mode at the geometry ``atoms``; returns self."""
        self.labels = [assign_mode(atoms.positions, atoms.get_chemical_symbols(), v) for v in self.vectors]
        return self

    def write_csv(self, path: str | Path, comment: str = "") -> None:
        """Stick spectrum CSV: wavenumber_cm-1,intensity_km/mol[,mode] (the format ``densnet ir --sticks`` and
        ``densnet ir-table`` read); the third column, the mode label, only when ``labels`` are set."""
        lines = [f"# {comment}"] if comment else []
        lines.append("wavenumber_cm-1,intensity_km/mol" + (",mode" if self.labels is not None else ""))
        for k, (w, i) in enumerate(zip(self.wavenumber, self.intensity, strict=True)):
            lines.append(f"{w:.3f},{i:.6f}" + ("" if self.labels is None else "," + _csv_field(self.labels[k])))
        Path(path).write_text("\n".join(lines) + "\n")

    def table(self) -> str:
        rows = [" mode  wavenumber/cm^-1  intensity/km/mol" + ("  assignment" if self.labels is not None else "")]
        for k, (w, i) in enumerate(zip(self.wavenumber, self.intensity, strict=True)):
            rows.append(f"{k + 1:5d}  {w:16.2f}  {i:16.3f}" + ("" if self.labels is None else f"  {self.labels[k]}"))
        return "\n".join(rows)


def _csv_field(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text


# ------------------------------------------------------------------------------------------- mode assignment

#: lengths (A/rad) that put angle changes on the scale of bond-length changes (A). Moving an atom on a ~1 A bond
#: sideways by d A changes the angle by ~d rad, but bends are much softer than stretches (typical force constants
#: ~4 eV/rad^2 vs ~30 eV/A^2, sqrt ratio ~0.4 A), so a bend counts half; torsions (the mean change of the
#: dihedrals about a bond) a quarter: a twist leaves bonds and angles unchanged to first order, and wags and rocks
#: shift dihedrals too. With 1.0 A the C-O and C-C stretches of ethanol (1030-1100 cm^-1) come out as H bends.
BEND_LENGTH, TORSION_LENGTH = 0.5, 0.25


def _sort_key(symbol: str) -> tuple[bool, str]:
    return symbol == "H", symbol  # hydrogen last, otherwise alphabetical: C-H, O-H, C-O, C-S


def assign_mode(positions: np.ndarray, symbols: list[str] | np.ndarray, displacement: np.ndarray,
                bond_scale: float = 1.2, step: float = 1e-4) -> str:
    """Short label of a normal mode by its dominant type of internal coordinate, e.g. "O-H stretch",
    "C-H stretch (CH3)", "H-C-H bend (CH2)", "C-O-H bend", "C-C torsion".

    ``positions`` [N, 3] (A) of the geometry of the Hessian, ``symbols`` [N] (element symbols or atomic
    numbers), ``displacement`` [N, 3] Cartesian displacements of the mode (:attr:`Modes.vectors`: the
    mass-weighted eigenvector divided by sqrt(m); normalisation irrelevant).

    Method (a heuristic, not a potential-energy distribution): bonds are pairs closer than ``bond_scale`` x
    the sum of ASE's natural covalent radii. For the displacement u the first-order changes of every bond
    length (dr = (u_j - u_i).e_ij, A), every bond angle (dtheta, rad; at a linear centre the amplitude of the
    perpendicular bend), at each planar 3-coordinated centre j the out-of-plane angle of its most terminal
    bond j-i ("wag", rad; H preferred: at a planar centre in-plane angles change only to second order) and, per
    bond j-k, the mean change of all proper dihedrals i-j-k-l (a rigid twist changes them all alike; other
    motions largely cancel) are taken, the angles by central differences of ``step`` (A) with
    ase.geometry.get_angles/get_dihedrals. Bends and wags are scaled by :data:`BEND_LENGTH`, torsions by
    :data:`TORSION_LENGTH` (A/rad). Coordinates are grouped by kind and element pattern (C-H stretch, H-C-H
    bend, C-H wag, C-C torsion, ...; the pattern of a torsion is its central bond) and the mode is named by
    the group with the largest sum of squares. Stretches, bends and wags involving H get the group "(CH3)",
    "(CH2)" or "(CH)" when all their H atoms that move appreciably (|dq| >= 0.3 x the largest in the group)
    sit on one carbon.
    """
    from ase.data import chemical_symbols

    from .sample import bond_graph

    syms = [s if isinstance(s, str) else chemical_symbols[int(s)] for s in symbols]
    pos, u = np.asarray(positions, float), np.asarray(displacement, float).reshape(-1, 3)
    bonds = sorted(bond_graph(Atoms(syms, positions=pos), bond_scale))
    coords = _internal_changes(pos, u, syms, bonds, step)  # (kind, atoms, scaled dq)
    if not coords:
        return "unassigned"
    groups: dict[tuple[str, str], list[tuple[tuple[int, ...], float]]] = {}
    for kind, idx, dq in coords:
        ends = idx if kind in ("stretch", "wag") else (idx[0], idx[2]) if kind == "bend" else idx[1:3]
        names = sorted((syms[i] for i in ends), key=_sort_key)
        pattern = "-".join(names) if kind != "bend" else f"{names[0]}-{syms[idx[1]]}-{names[1]}"
        groups.setdefault((kind, pattern), []).append((idx, dq))
    (kind, pattern), members = max(groups.items(), key=lambda g: sum(dq**2 for _, dq in g[1]))
    label = f"{pattern} {kind}"
    if kind != "torsion" and "H" in pattern.split("-"):
        big = max(abs(dq) for _, dq in members)
        hs = {i for idx, dq in members if abs(dq) >= 0.3 * big for i in idx if syms[i] == "H"}
        parents = {j for b in bonds for i, j in (b, b[::-1]) if i in hs and syms[j] != "H"}
        if len(parents) == 1 and syms[(c := parents.pop())] == "C":
            n_h = sum(1 for b in bonds if c in b and syms[b[0] if b[1] == c else b[1]] == "H")
            label += f" (CH{n_h if n_h > 1 else ''})"
    return label


def _internal_changes(pos: np.ndarray, u: np.ndarray, syms: list[str], bonds: list[tuple[int, int]],
                      step: float) -> list[tuple[str, tuple[int, ...], float]]:
    """(kind, atom indices, scaled first-order change) of all bonds, angles, out-of-plane wags and bond
    torsions (see :func:`assign_mode`) along ``u`` [N, 3]."""
    from ase.geometry import get_angles, get_dihedrals

    nb: dict[int, list[int]] = {}
    for i, j in bonds:
        nb.setdefault(i, []).append(j)
        nb.setdefault(j, []).append(i)
    out: list[tuple[str, tuple[int, ...], float]] = []
    for i, j in bonds:
        e = (pos[j] - pos[i]) / np.linalg.norm(pos[j] - pos[i])
        out.append(("stretch", (i, j), float((u[j] - u[i]) @ e)))
    angles = [(i, j, k) for j, ns in nb.items() for a, i in enumerate(ns) for k in ns[a + 1:]]

    def angle(x, ijk):  # degrees
        return get_angles(np.array([x[i] - x[j] for i, j, _ in ijk]).reshape(-1, 3),
                          np.array([x[k] - x[j] for _, j, k in ijk]).reshape(-1, 3))

    theta = angle(pos, angles) if angles else np.zeros(0)
    dtheta = np.radians(angle(pos + step * u, angles) - angle(pos - step * u, angles)) / (2 * step) \
        if angles else np.zeros(0)
    for (i, j, k), t, dt in zip(angles, theta, dtheta, strict=True):
        if t > 175.0:  # linear: first order zero, take the amplitude of the two perpendicular bends
            e = (pos[k] - pos[i]) / np.linalg.norm(pos[k] - pos[i])
            d = (u[i] - u[j]) / np.linalg.norm(pos[i] - pos[j]) + (u[k] - u[j]) / np.linalg.norm(pos[k] - pos[j])
            dt = np.linalg.norm(d - (d @ e) * e)
        out.append(("bend", (i, j, k), float(dt) * BEND_LENGTH))
    at = {j: [t for (_, c, _), t in zip(angles, theta, strict=True) if c == j] for j in nb}
    for j, ns in nb.items():  # planar 3-coordinated centre: out-of-plane angle of its most terminal bond j-i
        if len(ns) == 3 and sum(at[j]) > 355.0:
            i = min(ns, key=lambda n: (len(nb[n]), syms[n] != "H", syms[n], n))
            k, m = (n for n in ns if n != i)
            dw = _out_of_plane(pos + step * u, i, j, k, m) - _out_of_plane(pos - step * u, i, j, k, m)
            out.append(("wag", (j, i), dw / (2 * step) * BEND_LENGTH))
    lin = {(i, j, k) for (i, j, k), t in zip(angles, theta, strict=True) if t > 175.0}
    lin |= {(k, j, i) for i, j, k in lin}
    for j, k in bonds:
        dih = [(i, j, k, m) for i in nb[j] if i != k for m in nb[k] if m not in (j, i)
               and (i, j, k) not in lin and (j, k, m) not in lin]
        if not dih:
            continue

        def phi(x, dih=dih):  # degrees
            return get_dihedrals(*(np.array([x[q[a + 1]] - x[q[a]] for q in dih]) for a in range(3)))

        d = (phi(pos + step * u) - phi(pos - step * u) + 180.0) % 360.0 - 180.0
        out.append(("torsion", (dih[0][0], j, k, dih[0][3]), float(np.radians(d).mean() / (2 * step)) * TORSION_LENGTH))
    return out


def _out_of_plane(x: np.ndarray, i: int, j: int, k: int, m: int) -> float:
    """Angle (rad) of bond j-i out of the plane of j, k, m."""
    n = np.cross(x[k] - x[j], x[m] - x[j])
    e = x[i] - x[j]
    return float(np.arcsin(n @ e / np.linalg.norm(n) / np.linalg.norm(e)))


def internal_basis(positions: np.ndarray, masses: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Orthonormal basis [3N, 3N-6 (or -5 linear)] of mass-weighted displacements orthogonal to the
    translations and infinitesimal rotations about the centre of mass."""
    n = len(masses)
    sm = np.sqrt(masses)
    r = positions - (masses[:, None] * positions).sum(0) / masses.sum()
    ext = []
    for k in range(3):
        t = np.zeros((n, 3))
        t[:, k] = sm
        ext.append(t.ravel())
    for k in range(3):
        axis = np.zeros(3)
        axis[k] = 1.0
        ext.append((np.cross(axis, r) * sm[:, None]).ravel())
    u, sv, _ = np.linalg.svd(np.array(ext).T, full_matrices=True)
    rank = int((sv > tol * sv.max()).sum())
    return u[:, rank:]


def normal_modes(hessian: np.ndarray, masses: np.ndarray, positions: np.ndarray,
                 dmu_dx: np.ndarray | None = None) -> Modes:
    """Harmonic analysis of ``hessian`` [3N, 3N] (eV/A^2) with ``masses`` [N] (amu) at ``positions`` [N, 3] (A);
    ``dmu_dx`` [3N, 3] (e) gives intensities. Translations and rotations are projected out exactly."""
    h = 0.5 * (hessian + hessian.T)
    sm = np.repeat(np.sqrt(masses), 3)
    hmw = h / sm[:, None] / sm[None, :]
    d = internal_basis(positions, masses)
    lam, v = np.linalg.eigh(d.T @ hmw @ d)
    lmw = d @ v  # [3N, M] orthonormal mass-weighted modes
    wn = np.sign(lam) * np.sqrt(np.abs(lam)) * WAVENUMBER_PER_SQRT_EV_A2_AMU
    cart = (lmw / sm[:, None]).T.reshape(-1, len(masses), 3)
    cart /= np.linalg.norm(cart.reshape(len(wn), -1), axis=1)[:, None, None]
    if dmu_dx is None:
        inten = np.full(len(wn), np.nan)
    else:
        dmu_dq = (lmw / sm[:, None]).T @ dmu_dx  # [M, 3] e/sqrt(amu)
        inten = KM_PER_MOL * (dmu_dq**2).sum(axis=1)
    return Modes(wn, inten, cart)


# ------------------------------------------------------------------------------------------------- densnet model

def model_derivatives(model, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
    """(Hessian [3N, 3N] eV/A^2, dmu/dx [3N, 3] e) of a DensNet by double autograd (fixed neighbour graph)."""
    import torch

    from . import keys as K
    from .model.observables import molecular_dipole

    pos0, types, ei, sh = model.inputs(atoms)
    pos = pos0.detach().clone().requires_grad_(True)
    vec = pos.index_select(0, ei[1]) - pos.index_select(0, ei[0]) + sh
    out = model.forward_edges(types, ei, vec, compute_energy=True)
    energy = out[K.ATOM_ENERGY].sum()
    batch = torch.zeros(len(atoms), dtype=torch.long, device=pos.device)
    mu = molecular_dipole(out[K.CHARGES], out[K.ATOMIC_DIPOLES], pos, batch, 1)[0]
    (grad,) = torch.autograd.grad(energy, pos, create_graph=True)
    g = grad.reshape(-1)
    n3 = g.numel()
    hess = np.zeros((n3, n3))
    for i in range(n3):
        (row,) = torch.autograd.grad(g[i], pos, retain_graph=True)
        hess[i] = row.reshape(-1).detach().cpu().double().numpy()
    dmu = np.zeros((n3, 3))
    for k in range(3):
        (col,) = torch.autograd.grad(mu[k], pos, retain_graph=k < 2)
        dmu[:, k] = col.reshape(-1).detach().cpu().double().numpy()
    return hess, dmu


def fd_derivatives(calc, atoms: Atoms, delta: float = 0.005) -> tuple[np.ndarray, np.ndarray]:
    """(Hessian [3N, 3N] eV/A^2, dmu/dx [3N, 3] e) by central differences of an ASE calculator's forces and
    dipole with displacements ``delta`` (A)."""
    n3 = 3 * len(atoms)
    hess, dmu = np.zeros((n3, n3)), np.zeros((n3, 3))
    for i in range(n3):
        res = []
        for sgn in (1, -1):
            a = atoms.copy()
            a.calc = calc
            a.positions[i // 3, i % 3] += sgn * delta
            res.append((a.get_forces().reshape(-1), a.get_dipole_moment()))
        hess[i] = -(res[0][0] - res[1][0]) / (2 * delta)
        dmu[i] = (res[0][1] - res[1][1]) / (2 * delta)
    return hess, dmu


def _log(msg: str) -> None:
    import sys

    print(f"densnet harmonic: {msg}", file=sys.stderr, flush=True)


def optimise(atoms: Atoms, calc, fmax: float = 1e-4, steps: int = 2000) -> Atoms:
    """BFGS minimum of ``calc`` (fmax in eV/A); raises DensnetError if it does not converge."""
    from ase.optimize import BFGS

    _log(f"optimising (BFGS, fmax {fmax:g} eV/A)")
    a = atoms.copy()
    a.calc = calc
    opt = BFGS(a, logfile=None)
    if not opt.run(fmax=fmax, steps=steps):
        f = np.abs(a.get_forces()).max()
        raise DensnetError(f"geometry optimisation did not converge in {steps} steps (max force {f:.2e} eV/A)")
    return a


def model_harmonic(model, atoms: Atoms, method: str = "autograd", optimise_first: bool = True,
                   fmax: float = 1e-4) -> tuple[Modes, Atoms]:
    """Modes of a DensNet (gas phase) at its minimum near ``atoms``."""
    from .calculator import DenSNetCalculator

    calc = DenSNetCalculator(model)
    a = optimise(atoms, calc, fmax) if optimise_first else atoms.copy()
    if method == "autograd":
        hess, dmu = model_derivatives(calc.model, a)
    elif method == "fd":
        hess, dmu = fd_derivatives(calc, a)
    else:
        raise DensnetError(f"unknown Hessian method {method!r} (autograd, fd)")
    return normal_modes(hess, a.get_masses(), a.positions, dmu), a


# --------------------------------------------------------------------------------------------------------- DFT

def _scf(atoms: Atoms, lot, dm0=None):
    from .dft import make_mol, run_scf

    mol = make_mol(atoms.numbers, atoms.positions, lot.basis, lot.charge)
    mf, _ = run_scf(mol, lot, dm0)
    return mf


class _PySCFForces:
    """Minimal ASE calculator (energy, forces) at the reference level for the geometry optimisation."""

    def __new__(cls, lot):
        from ase.calculators.calculator import Calculator, all_changes

        class Calc(Calculator):
            implemented_properties = ["energy", "forces"]

            def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
                super().calculate(atoms, properties, system_changes)
                mf = _scf(self.atoms, lot, getattr(self, "_dm", None))
                self._dm = mf.make_rdm1()
                g = mf.nuc_grad_method().kernel()
                self.results = {"energy": mf.e_tot * units.Hartree,
                                "forces": -g * units.Hartree / units.Bohr}

        return Calc()


def dft_hessian(atoms: Atoms, lot=None) -> dict:
    """Analytic RKS Hessian and dipole derivatives at ``atoms`` (no optimisation), both from one PySCF CPHF
    solution (the orbital response to each nuclear displacement).

    Returns ``hessian`` [3N, 3N] eV/A^2, ``dmu_dx`` [3N, 3] e (:func:`dipole_derivatives`),
    ``pyscf_wavenumbers`` (from ``pyscf.hessian.thermo.harmonic_analysis``, cm^-1), the SCF object and
    ``wall_s`` (s, SCF included).
    """
    import time

    from pyscf.hessian import thermo

    from .dft import LevelOfTheory

    t0 = time.perf_counter()
    lot = lot or LevelOfTheory()
    mf = _scf(atoms, lot)
    _log("analytic DFT Hessian and dipole derivatives")
    hobj = mf.Hessian()
    e, c, occ = mf.mo_energy, mf.mo_coeff, mf.mo_occ
    h1ao = hobj.make_h1(c, occ)
    mo1, e1 = hobj.solve_mo1(e, c, occ, h1ao)  # mo1[atom] [3, nao, nocc]: first-order occupied orbitals
    h = hobj.hess_elec(e, c, occ, mo1=mo1, mo_e1=e1, h1ao=h1ao) + hobj.hess_nuc()  # [N, N, 3, 3] Hartree/bohr^2
    n = len(atoms)
    hess = h.transpose(0, 2, 1, 3).reshape(3 * n, 3 * n) * units.Hartree / units.Bohr**2
    ha = thermo.harmonic_analysis(mf.mol, h, imaginary_freq=False)
    dmu = dipole_derivatives(mf, mo1)
    wall = time.perf_counter() - t0
    _log(f"analytic DFT Hessian and dipole derivatives done in {wall:.0f} s (SCF included)")
    return {"hessian": hess, "dmu_dx": dmu, "pyscf_wavenumbers": np.asarray(ha["freq_wavenumber"]).real,
            "mf": mf, "wall_s": wall}


def dipole_derivatives(mf, mo1: list[np.ndarray]) -> np.ndarray:
    """Atomic polar tensors dmu_a/dx_Bk [3N, 3] (e) of a closed-shell SCF from its CPHF response ``mo1``
    (per atom B: [3, nao, nocc], AO coefficients of the first-order occupied orbitals, overlap response
    included, as ``pyscf.hessian.rhf.solve_mo1`` returns them).

    mu_a = sum_B Z_B R_Ba - sum_uv D_uv <u|r_a|v>, so dmu_a/dR_Bk = Z_B delta_ak - sum_uv dD_uv/dR_Bk <u|r_a|v>
    - sum_uv D_uv d<u|r_a|v>/dR_Bk, where dD = 2 (C1 Cocc^T + Cocc C1^T) and moving centre B moves its basis
    functions: d<u|r_a|v>/dR_Bk = -<u|r_a d_k|v> for v on B (and the transpose for u on B).
    """
    mol = mf.mol
    mocc = mf.mo_coeff[:, mf.mo_occ > 0]
    dm0 = mf.make_rdm1()
    with mol.with_common_orig((0.0, 0.0, 0.0)):
        r = mol.intor("int1e_r", comp=3)  # [3 a, nao, nao] <u|r_a|v>
        rp = mol.intor("int1e_irp", comp=9, hermi=0).reshape(3, 3, mol.nao, mol.nao)  # <u|r_a d_k|v>
    apt = np.zeros((mol.natm, 3, 3))  # [B, k, a]
    for b, (_, _, p0, p1) in enumerate(mol.aoslice_by_atom()):
        dm1 = 2 * np.einsum("kpi,qi->kpq", mo1[b], mocc)
        dm1 = dm1 + dm1.transpose(0, 2, 1)
        apt[b] = (mol.atom_charge(b) * np.eye(3) - np.einsum("kpq,apq->ka", dm1, r)
                  + 2 * np.einsum("uv,akuv->ka", dm0[:, p0:p1], rp[:, :, :, p0:p1]))
    return apt.reshape(3 * mol.natm, 3)


def dft_fd_derivatives(atoms: Atoms, workdir: str | Path, lot=None, delta: float = 0.005, workers: int = 1,
                       threads: int = 1, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(Hessian [3N, 3N] eV/A^2, dmu/dx [3N, 3] e) by central differences of reference-level forces and
    dipoles (step ``delta`` A), for molecules where PySCF's analytic Hessian is too costly.

    The 6N displaced geometries (``workdir/displacements.extxyz``: frame 2i = +delta, 2i+1 = -delta along
    Cartesian coordinate i) are labelled with :class:`densnet.label.Labeller` into
    ``workdir/displacements.h5`` (no density matrices stored): chunked, resumable after a kill (re-run the
    same call), ``workers`` PySCF processes of ``threads`` threads, progress bar. A workdir made for another
    geometry, step or level of theory is refused.
    """
    import ase.io

    from .dataset import load_h5
    from .dft import LevelOfTheory
    from .label import Labeller, LabelSettings

    lot = lot or LevelOfTheory()
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    frames_path = work / "displacements.extxyz"
    n3 = 3 * len(atoms)
    images = []
    for i in range(n3):
        for sgn in (1, -1):
            a = Atoms(atoms.numbers, positions=atoms.positions.copy())
            a.positions[i // 3, i % 3] += sgn * delta
            a.info.update(coordinate=i, step=sgn * delta)
            images.append(a)
    if frames_path.exists():
        old = ase.io.read(frames_path, index=":")
        same = len(old) == len(images) and all(
            np.array_equal(o.numbers, a.numbers) and np.allclose(o.positions, a.positions, rtol=0, atol=1e-9)
            for o, a in zip(old, images, strict=True))
        if not same:
            raise DensnetError(f"{work} holds displacements of another geometry or step: use another workdir")
    else:
        tmp = work / "displacements.tmp.extxyz"
        ase.io.write(tmp, images, format="extxyz")
        tmp.rename(frames_path)
    settings = LabelSettings(level_of_theory=lot, chunk_size=max(1, min(2 * len(atoms), 50)), dm_dtype=None)
    Labeller(frames_path, work / "displacements.h5", settings).run(workers, threads, progress)
    ds = load_h5(work / "displacements.h5", load_dm=False)
    if ds.failed:
        raise DensnetError(f"{len(ds.failed)} displaced SCFs failed ({work / 'displacements.h5'}); "
                           "the finite-difference Hessian needs all of them")
    by_index = {f.index: f for f in ds.frames}
    hess, dmu = np.zeros((n3, n3)), np.zeros((n3, 3))
    for i in range(n3):
        plus, minus = by_index[2 * i], by_index[2 * i + 1]
        hess[i] = -(plus.forces - minus.forces).reshape(-1) / (2 * delta)
        dmu[i] = (plus.dipole - minus.dipole) / (2 * delta)
    return 0.5 * (hess + hess.T), dmu


def optimise_resumable(atoms: Atoms, calc, fmax: float, steps: int, workdir: Path) -> Atoms:
    """BFGS like :func:`optimise`, restartable: the trajectory (``opt.traj``) and BFGS state (``bfgs.json``)
    live in ``workdir``; a re-run continues from the last geometry. The result is ``optimised.xyz``."""
    import ase.io
    from ase.optimize import BFGS

    done = workdir / "optimised.xyz"
    if done.exists():
        return ase.io.read(done)
    traj = workdir / "opt.traj"
    a = atoms.copy()
    if traj.exists() and traj.stat().st_size > 0:
        try:
            last = ase.io.read(traj, index=-1)
        except Exception:  # noqa: BLE001 - a torn last frame: start from the input again
            last = None
        if last is not None and np.array_equal(last.numbers, a.numbers):
            a.positions = last.positions
            _log(f"resuming the optimisation from {traj}")
    a.calc = calc
    _log(f"optimising (BFGS, fmax {fmax:g} eV/A; restartable in {workdir})")
    opt = BFGS(a, logfile=str(workdir / "opt.log"), trajectory=str(traj), append_trajectory=True,
               restart=str(workdir / "bfgs.json"))
    if not opt.run(fmax=fmax, steps=steps):
        f = np.abs(a.get_forces()).max()
        raise DensnetError(f"geometry optimisation did not converge in {steps} steps (max force {f:.2e} eV/A)")
    tmp = workdir / "optimised.tmp.xyz"
    ase.io.write(tmp, a, format="extxyz")
    tmp.rename(done)
    return ase.io.read(done)


def dft_harmonic(atoms: Atoms, lot=None, optimise_first: bool = True, fmax: float = 1e-3,
                 workdir: str | Path | None = None, workers: int = 1, threads: int = 1,
                 method: str = "analytic") -> tuple[Modes, Atoms]:
    """Modes at the reference level of theory (PySCF), optimised first with BFGS on DFT forces (``fmax`` eV/A:
    much tighter than 1e-3 is below the grid noise of the forces and may never converge).

    ``method`` 'analytic': :func:`dft_hessian` (one SCF + CPHF); 'fd': :func:`dft_fd_derivatives` (6N
    displaced SCF gradients in ``workers`` processes, resumable; needs ``workdir``). ``threads``: PySCF threads
    per process. With ``workdir`` the optimisation is restartable and the analytic result is kept in
    ``workdir/analytic.npz``: re-run the same command after a kill to continue.
    """
    from pyscf import lib

    from .dft import LevelOfTheory

    if method not in ("analytic", "fd"):
        raise DensnetError(f"DFT Hessian method {method!r}: use 'analytic' or 'fd'")
    if method == "fd" and workdir is None:
        raise DensnetError("the finite-difference DFT Hessian needs --workdir (it stores the displaced SCFs)")
    lot = lot or LevelOfTheory()
    lib.num_threads(threads)  # the optimisation and the analytic Hessian run in this process
    if workdir is None:
        a = optimise(atoms, _PySCFForces(lot), fmax, steps=300) if optimise_first else atoms.copy()
        res = dft_hessian(a, lot)
        return normal_modes(res["hessian"], a.get_masses(), a.positions, res["dmu_dx"]), a
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    a = optimise_resumable(atoms, _PySCFForces(lot), fmax, 300, work) if optimise_first else atoms.copy()
    if method == "fd":
        hess, dmu = dft_fd_derivatives(a, work / "fd", lot, workers=workers, threads=threads)
    else:
        hess, dmu = _analytic_cached(a, lot, work / "analytic.npz")
    return normal_modes(hess, a.get_masses(), a.positions, dmu), a


def _analytic_cached(atoms: Atoms, lot, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """:func:`dft_hessian` of ``atoms``, stored in ``path`` with its wall time ``wall_s`` (reused when the
    geometry and level match)."""
    key = lot.describe()
    if path.is_file():
        with np.load(path) as f:
            if (str(f["level"]) == key and f["positions"].shape == atoms.positions.shape
                    and np.allclose(f["positions"], atoms.positions, rtol=0, atol=1e-9)):
                return f["hessian"], f["dmu_dx"]
        raise DensnetError(f"{path} holds the Hessian of another geometry or level of theory: use another workdir")
    res = dft_hessian(atoms, lot)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, hessian=res["hessian"], dmu_dx=res["dmu_dx"], positions=atoms.positions, level=key,
             wall_s=res["wall_s"])
    tmp.rename(path)
    return res["hessian"], res["dmu_dx"]


def command(structure: str, model: str | None, out: str | None, method: str | None = None,
            optimise_first: bool = True, fmax: float | None = None, optimised_xyz: str | None = None,
            workdir: str | None = None, workers: int = 1, threads: int = 1) -> Modes:
    """``densnet harmonic``: model (``model`` path) or DFT (``model`` None); prints the table, writes sticks.
    ``fmax`` (eV/A) defaults to 1e-4 for models and 1e-3 for DFT."""
    import ase.io

    if not Path(structure).is_file():
        raise DensnetError(f"{structure}: no such file")
    atoms = ase.io.read(structure, index=0)
    if model is None:
        from .dft import LevelOfTheory

        method = method or "analytic"
        modes, opt = dft_harmonic(atoms, None, optimise_first, fmax or 1e-3, workdir, workers, threads, method)
        how = "finite differences of forces/dipoles" if method == "fd" else "analytic Hessian and dipole derivatives"
        comment = f"densnet harmonic --dft {LevelOfTheory().describe()} ({how})"
    else:
        from . import load

        method = method or "autograd"
        if method not in ("autograd", "fd"):
            raise DensnetError(f"model Hessian method {method!r}: use 'autograd' or 'fd' ('analytic' is for --dft)")
        modes, opt = model_harmonic(load(model), atoms, method, optimise_first, fmax or 1e-4)
        comment = f"densnet harmonic {model} ({method} Hessian)"
    modes.assign(opt)
    print(modes.table())
    if out:
        modes.write_csv(out, comment)
    if optimised_xyz:
        ase.io.write(optimised_xyz, opt)
    return modes

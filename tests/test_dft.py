"""Reference calculations with the real PySCF: units, signs, fitted densities, SAD prior."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import molecule
from ase.units import Bohr

from densnet.basis import one_centre_moments, resolve_basis
from densnet.dft import LevelOfTheory, free_atom_data, label_frame, make_mol


def _fit_moments(numbers, positions, coeffs, basis):
    """Electron count and dipole (e*A) of fitted coefficients plus the nuclei."""
    aux = make_mol(numbers, positions, basis, spin=int(numbers.sum()) % 2)
    n, d = one_centre_moments(aux)
    from densnet.dft import aux_function_atoms

    centres = aux.atom_coords()[aux_function_atoms(aux)]  # bohr
    electrons = coeffs @ n
    first_moment = coeffs @ (n[:, None] * centres + d)  # e*bohr
    nuclear = numbers @ (positions / Bohr)
    return electrons, (nuclear - first_moment) * Bohr


def test_forces_are_minus_energy_gradient():
    """Labelled forces (eV/A) equal minus a central finite difference of labelled energies (eV)."""
    lot = LevelOfTheory(conv_tol=1e-12)
    basis = resolve_basis(lot.density_basis, ["H", "O"])
    atoms = molecule("H2O")
    atoms.positions += np.array([[0.02, -0.01, 0.03], [0.0, 0.05, -0.02], [-0.03, 0.0, 0.01]])
    ref = label_frame(atoms.numbers, atoms.positions, lot, basis)
    h = 2e-3
    for atom, axis in [(0, 2), (1, 1), (2, 0)]:
        e = []
        for sign in (1, -1):
            p = atoms.positions.copy()
            p[atom, axis] += sign * h
            e.append(label_frame(atoms.numbers, p, lot, basis, dm0=ref["dm"])["energy"])
        fd = -(e[0] - e[1]) / (2 * h)
        # analytic gradients omit the grid-weight response (level 3): ~1e-4 eV/A on these components
        assert abs(fd - ref["forces"][atom, axis]) < 5e-4, (atom, axis, fd, ref["forces"][atom, axis])
    # Newton's third law for an isolated molecule
    assert np.abs(ref["forces"].sum(0)).max() < 1e-3


@pytest.mark.parametrize("density_basis", ["def2-universal-jfit", "even-tempered"])
def test_constrained_fit_conserves_electrons_and_dipole(density_basis):
    lot = LevelOfTheory(density_basis=density_basis)
    atoms = molecule("CH4")
    atoms.positions[1] += [0.1, 0.0, -0.05]  # polar distortion: nonzero dipole
    basis = resolve_basis(density_basis, ["C", "H"])
    rec = label_frame(atoms.numbers, atoms.positions, lot, basis)
    n_el, mu = _fit_moments(atoms.numbers, atoms.positions, rec["coeffs"], basis)
    assert abs(n_el - 10) < 1e-9
    assert np.linalg.norm(rec["dipole"]) > 1e-3
    np.testing.assert_allclose(mu, rec["dipole"], atol=1e-8)


def test_plain_fit_misses_dipole_that_constrained_fit_gets():
    """The constraint is not a no-op: the unconstrained Coulomb fit misses the dipole measurably."""
    from densnet.dft import density_fit_coefficients, run_scf

    lot = LevelOfTheory()
    atoms = molecule("H2O")
    basis = resolve_basis(lot.density_basis, ["H", "O"])
    mol = make_mol(atoms.numbers, atoms.positions, lot.basis)
    mf, _ = run_scf(mol, lot)
    aux = make_mol(atoms.numbers, atoms.positions, basis)
    dm = mf.make_rdm1()
    plain = density_fit_coefficients(mol, aux, dm, constrain=False)
    constrained = density_fit_coefficients(mol, aux, dm, constrain=True)
    dip = mf.dip_moment(unit="AU", verbose=0) * Bohr
    _, mu_plain = _fit_moments(atoms.numbers, atoms.positions, plain, basis)
    _, mu_con = _fit_moments(atoms.numbers, atoms.positions, constrained, basis)
    assert np.linalg.norm(mu_con - dip) < 1e-8
    assert np.linalg.norm(mu_plain - dip) > 1e-5


@pytest.mark.parametrize("symbol", ["H", "C", "O", "S"])
def test_sad_integrates_to_nuclear_charge(symbol):
    from pyscf import gto

    lot = LevelOfTheory()
    basis = resolve_basis(lot.density_basis, [symbol])
    data = free_atom_data(symbol, lot, basis)
    z = gto.charge(symbol)
    aux = gto.M(atom=f"{symbol} 0 0 0", basis=basis, spin=z % 2, verbose=0)
    n, _ = one_centre_moments(aux)
    assert abs(data["sad_coeffs"] @ n - z) < 1e-10
    assert data["energy"] < 0


def test_one_centre_moments_match_numerical_integration():
    from pyscf import dft

    basis = resolve_basis("def2-universal-jfit", ["O", "H"])
    aux = make_mol([8, 1, 1], np.array([[0, 0, 0.1], [0.7, 0.2, -0.4], [-0.6, 0.3, -0.3]]), basis)
    n, d = one_centre_moments(aux)
    grids = dft.gen_grid.Grids(aux)
    grids.level = 6
    grids.build()
    ao = aux.eval_gto("GTOval_sph", grids.coords)
    from densnet.dft import aux_function_atoms

    centres = aux.atom_coords()[aux_function_atoms(aux)]
    n_num = grids.weights @ ao
    d_num = np.einsum("g,gp,gx->px", grids.weights, ao, grids.coords) - n_num[:, None] * centres
    np.testing.assert_allclose(n_num, n, atol=1e-6)
    np.testing.assert_allclose(d_num, d, atol=1e-6)


def test_ethanol_matches_independent_pyscf():
    """densnet's labels for ethanol equal a plain PySCF run at the same settings (1e-5 eV, 1e-4 eV/A)."""
    from pyscf import dft, gto

    atoms = molecule("CH3CH2OH")
    lot = LevelOfTheory()
    rec = label_frame(atoms.numbers, atoms.positions, lot, resolve_basis(lot.density_basis, ["C", "H", "O"]))

    mol = gto.M(atom=[(s, p) for s, p in zip(atoms.get_chemical_symbols(), atoms.positions, strict=True)],
                basis="def2-svp", unit="Angstrom", verbose=0)
    mf = dft.RKS(mol, xc="pbe").density_fit(auxbasis="def2-universal-jfit")
    mf.grids.level = 3
    mf.conv_tol = 1e-10
    e_ref = mf.kernel()
    g_ref = mf.nuc_grad_method().kernel()
    from pyscf.data.nist import BOHR, HARTREE2EV  # PySCF's own constants (CODATA 2014, as ase.units)

    hartree_ev, bohr_a = HARTREE2EV, BOHR
    assert abs(rec["energy"] - e_ref * hartree_ev) < 1e-5
    np.testing.assert_allclose(rec["forces"], -g_ref * hartree_ev / bohr_a, atol=1e-4)


def test_even_tempered_basis_names():
    """even-tempered[-BETA]: denser exponent ratios give more functions; bad names are refused by name."""
    from pyscf import gto

    from densnet.basis import even_tempered_beta, resolve_basis

    assert even_tempered_beta("even-tempered") == 2.0 and even_tempered_beta("even-tempered-1.7") == 1.7
    assert even_tempered_beta("def2-universal-jfit") is None
    sizes = [gto.M(atom="O 0 0 0", basis={"O": resolve_basis(n, ["O"])["O"]}, verbose=0).nao
             for n in ("even-tempered", "even-tempered-1.7")]
    assert sizes[1] > sizes[0]
    for bad in ("even-tempered-x", "even-tempered-0.9"):
        with pytest.raises(ValueError, match="even-tempered-BETA|BETA must be"):
            resolve_basis(bad, ["O"])


def test_stalled_diis_is_finished_by_newton_at_the_same_energy():
    """DIIS stopped after 3 cycles is continued by second-order SCF (attempt 2) to the plain DIIS solution."""
    from densnet.dft import run_scf

    atoms = molecule("H2O")
    mol = make_mol(atoms.numbers, atoms.positions, LevelOfTheory().basis)
    ref, attempt_ref = run_scf(mol, LevelOfTheory())
    mf, attempt = run_scf(mol, LevelOfTheory(max_cycle=3))
    assert (attempt_ref, attempt) == (0, 2) and ref.cycles > 3
    assert abs(mf.e_tot - ref.e_tot) < 1e-8
    np.testing.assert_allclose(mf.make_rdm1(), ref.make_rdm1(), atol=1e-5)

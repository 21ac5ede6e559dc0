"""Acceptance tests of the densnet model (float64, random weights): symmetry, locality, charge, forces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from helpers import coeff_rotation, ethanol, random_model, random_orthogonal, to_inputs, water

from densnet.basis import element_layout, one_centre_moments
from densnet.model import compute_properties, pyscf_from_e3nn
from densnet.model.contract import ContractModel
from densnet.model.observables import BOHR, density_mol, flat_coefficients

#: the default energy network, one with many-body product blocks (energy_correlation 3) after 2 layers, and one
#: with 3 residual energy layers
CONFIGS = {"plain": None, "product": {"energy_layers": 2, "energy_correlation": 3},
           "residual": {"energy_layers": 3, "energy_residual": True}}


@pytest.fixture(scope="module", params=list(CONFIGS))
def setup(request):
    return random_model(config=CONFIGS[request.param])


def _batch(mols, elements, cutoff):
    pos, types, ei, sh, batch = [], [], [], [], []
    off = 0
    for k, a in enumerate(mols):
        p, t, e, s = to_inputs(a, elements, cutoff)
        pos.append(p), types.append(t), ei.append(e + off), sh.append(s)
        batch.append(torch.full((len(a),), k))
        off += len(a)
    return (torch.cat(pos), torch.cat(types), torch.cat(ei, 1), torch.cat(sh), torch.cat(batch), len(mols))


def _props(model, mols, forces=True):
    b = _batch(mols, model.elements, model.cutoff)
    return compute_properties(model, *b, forces=forces)


@pytest.mark.parametrize("l", [1, 2, 3, 4])
@pytest.mark.parametrize("reflect", [False, True])
def test_pyscf_rotation_matrices_match_eval_gto(l, reflect):
    """rho(c', R r) == rho(c, r) with c' = D_pyscf(R) c, checked with PySCF's own basis functions."""
    from pyscf import gto

    basis = {"O": [[l, [1.3, 1.0]], [l, [0.4, 1.0]]]}
    lay = element_layout("O", basis["O"])
    rng = np.random.default_rng(l)
    c = rng.normal(size=lay.n_functions)
    rot = random_orthogonal(10 + l, reflect)
    centre = np.array([0.3, -0.2, 0.5])
    d = coeff_rotation(["O"], basis, rot)[0]
    mol = gto.M(atom=[("O", centre)], basis=basis, unit="Bohr", verbose=0)
    mol_r = gto.M(atom=[("O", rot @ centre)], basis=basis, unit="Bohr", verbose=0)
    pts = rng.normal(size=(50, 3))
    rho = mol.eval_gto("GTOval_sph", pts) @ c
    rho_r = mol_r.eval_gto("GTOval_sph", pts @ rot.T) @ (d @ c)
    np.testing.assert_allclose(rho_r, rho, atol=1e-12 * np.abs(rho).max())
    m = pyscf_from_e3nn(l)
    np.testing.assert_allclose(m @ m.T, np.eye(2 * l + 1), atol=1e-12)


@pytest.mark.parametrize("reflect", [False, True])
def test_rotation_reflection_translation(setup, reflect):
    model, basis, tables = setup
    atoms = ethanol()
    rot = random_orthogonal(3, reflect)
    moved = atoms.copy()
    moved.positions = atoms.positions @ rot.T + np.array([1.5, -2.0, 0.7])
    o1, o2 = _props(model, [atoms]), _props(model, [moved])
    e = o1["energy"].abs().item()
    assert abs(o1["energy"].item() - o2["energy"].item()) < 1e-10 * max(e, 1.0)
    np.testing.assert_allclose(o2["forces"].detach().numpy(), o1["forces"].detach().numpy() @ rot.T, atol=1e-10)
    np.testing.assert_allclose(o2["charges"].detach().numpy(), o1["charges"].detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(o2["atomic_dipoles"].detach().numpy(),
                               o1["atomic_dipoles"].detach().numpy() @ rot.T, atol=1e-10)
    np.testing.assert_allclose(o2["dipole"].detach().numpy(), o1["dipole"].detach().numpy() @ rot.T, atol=1e-10)
    ds = coeff_rotation(atoms.get_chemical_symbols(), basis, rot)
    c1, c2 = o1["coeffs"].detach().numpy(), o2["coeffs"].detach().numpy()
    types = to_inputs(atoms, model.elements, model.cutoff)[1].numpy()
    for a, d in enumerate(ds):
        n = tables.n_functions[types[a]]
        np.testing.assert_allclose(c2[a, :n], d @ c1[a, :n], atol=1e-10 * np.abs(c1).max())
    assert np.abs(o1["delta_coeffs"].detach().numpy()).max() > 1e-4  # the test must be able to fail


def test_permutation(setup):
    model, _, _ = setup
    atoms = ethanol()
    perm = np.random.default_rng(0).permutation(len(atoms))
    o1, o2 = _props(model, [atoms]), _props(model, [atoms[perm]])
    assert abs(o1["energy"].item() - o2["energy"].item()) < 1e-10
    for k in ("forces", "coeffs", "charges", "atomic_dipoles", "atom_energy"):
        np.testing.assert_allclose(o2[k].detach().numpy(), o1[k].detach().numpy()[perm], atol=1e-10)


def test_batch_independence_and_local_charge(setup):
    model, _, tables = setup
    w, e = water(), ethanol()
    near = e.copy()
    near.positions += np.array([3.5, 0.0, 0.0])  # overlapping neighbourhoods: charge may flow between them
    alone = [_props(model, [m]) for m in (w, e)]
    both = _props(model, [w, e])
    for k, _m in enumerate((w, e)):
        assert abs(both["energy"][k].item() - alone[k]["energy"].item()) < 1e-10
        np.testing.assert_allclose(both["dipole"][k].detach().numpy(), alone[k]["dipole"][0].detach().numpy(),
                                   atol=1e-10)
    sl = slice(len(w), None)
    np.testing.assert_allclose(both["forces"][sl].detach().numpy(), alone[1]["forces"].detach().numpy(),
                               atol=1e-10)
    # each molecule of a batch is neutral, and a molecule close to another stays neutral as a whole system
    assert abs(both["charges"][: len(w)].sum().item()) < 1e-12
    assert abs(both["charges"][sl].sum().item()) < 1e-12
    pair = _props(model, [w + near])
    assert abs(pair["charges"].sum().item()) < 1e-12
    assert abs(pair["charges"][: len(w)].sum().item()) > 1e-8  # charge transfer happens between them
    # the coefficients integrate to the exact electron count
    n = tables.n_int[to_inputs(e, model.elements, model.cutoff)[1].numpy()]
    n_el = float((alone[1]["coeffs"].detach().numpy() * n).sum())
    assert abs(n_el - e.numbers.sum()) < 1e-10 * e.numbers.sum()


def test_float32_model_conserves_electrons_exactly():
    """float32 models keep the electron bookkeeping (SAD, integrals, projection, transfer) in float64."""
    model, _, tables = random_model(("H", "C", "O"), seed=3, dtype=torch.float32)
    assert model.energy_scale.dtype == torch.float32 and model.n_int.dtype == torch.float64
    e = ethanol()
    w = water()
    w.positions += np.array([3.5, 0.0, 0.0])  # charge flows between the two molecules
    b = _batch([e + w], model.elements, model.cutoff)
    b = (b[0].float(), b[1], b[2], b[3].float(), b[4], b[5])
    out = compute_properties(model, *b)
    assert out["forces"].dtype == torch.float32 and out["charges"].dtype == torch.float32
    q = out["charges"].double()
    assert q.abs().max().item() > 1e-3
    n_el = float((e + w).numbers.sum())
    eps = float(torch.finfo(torch.float32).eps)
    # rounding of each float64 charge to float32 only (the float64 sum is zero to ~1e-15)
    assert abs(q.sum().item()) < len(q) * eps * q.abs().max().item()
    assert abs(q.sum().item()) < 1e-2 * eps * n_el


def test_forces_finite_differences(setup):
    model, _, _ = setup
    atoms = water()
    atoms.positions += np.random.default_rng(1).normal(scale=0.05, size=atoms.positions.shape)
    f = _props(model, [atoms])["forces"].detach().numpy()
    h = 1e-5
    fd = np.zeros_like(f)
    for a in range(len(atoms)):
        for x in range(3):
            ep = []
            for sgn in (1, -1):
                b = atoms.copy()
                b.positions[a, x] += sgn * h
                ep.append(_props(model, [b], forces=False)["energy"].item())
            fd[a, x] = -(ep[0] - ep[1]) / (2 * h)
    np.testing.assert_allclose(f, fd, atol=1e-7 * max(1.0, np.abs(f).max()))
    assert np.abs(f).max() > 1e-4


def test_smooth_at_cutoff(setup):
    model, _, _ = setup
    rc = model.cutoff

    def run(r):
        a = water() + Atoms("H", positions=[[0.0, 0.0, 0.0]])
        a.positions[3] = a.positions[0] + np.array([0.0, 0.0, r])  # only O-H(3) crosses the cutoff near rc
        return _props(model, [a])

    ref = run(rc + 0.5)
    for d in (1e-2, 1e-3):
        inside, outside = run(rc - d), run(rc + d)
        de = abs(inside["energy"].item() - outside["energy"].item())
        df = np.abs(inside["forces"].detach().numpy() - outside["forces"].detach().numpy()).max()
        assert de < 50 * d**3, (d, de)
        assert df < 50 * d**2, (d, df)
    assert abs(run(rc - 0.5)["energy"].item() - ref["energy"].item()) > 1e-6  # the H does interact


def test_dipole_origin_independent(setup):
    model, _, _ = setup
    atoms = ethanol()
    b = _batch([atoms], model.elements, model.cutoff)
    o1 = compute_properties(model, *b, forces=False, energy=False)
    pos2 = b[0] + torch.tensor([10.0, -3.0, 4.0], dtype=torch.float64)
    o2 = compute_properties(model, pos2, *b[1:], forces=False, energy=False)
    np.testing.assert_allclose(o1["dipole"].detach().numpy(), o2["dipole"].detach().numpy(), atol=1e-10)


def test_density_integrates_to_electron_count(setup):
    from pyscf import dft

    model, basis, tables = setup
    atoms = water()
    mol = density_mol(atoms.numbers, atoms.positions, basis)
    grids = dft.gen_grid.Grids(mol)
    grids.level = 3
    grids.build()
    rho = model.density(atoms, grids.coords * BOHR)  # e/A^3
    n = float(rho @ grids.weights) * BOHR**3
    assert abs(n - atoms.numbers.sum()) < 1e-4
    # and the one-centre integrals agree with the grid
    n_int, _ = one_centre_moments(mol)
    flat = model.flat_coefficients(atoms)
    assert abs(flat @ n_int - atoms.numbers.sum()) < 1e-10


def test_torchscript_and_contract(setup):
    model, _, _ = setup
    atoms = ethanol()
    inp = to_inputs(atoms, model.elements, model.cutoff)
    scripted = torch.jit.script(ContractModel(model))
    out = scripted(*inp, torch.tensor(len(atoms)))
    ref = _props(model, [atoms])
    np.testing.assert_allclose(out["forces"].numpy(), ref["forces"].detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(out["virial"].numpy(), ref["virial"][0].detach().numpy(), atol=1e-12)
    assert abs(out["energy"].item() - ref["energy"].item()) < 1e-10
    import io

    buf = io.BytesIO()
    torch.jit.save(scripted, buf)
    buf.seek(0)
    again = torch.jit.load(buf)(*inp, torch.tensor(len(atoms)))
    np.testing.assert_allclose(again["forces"].numpy(), out["forces"].numpy(), atol=1e-14)
    # ghost mode: only the first n_local atoms' energies are summed
    part = scripted(*inp, torch.tensor(4))
    assert abs(part["energy"].item() - out["atom_energy"][:4].sum().item()) < 1e-12
    assert model.receptive_field == model.config["density_layers"] + 1 + model.config["energy_layers"]


def test_flat_coefficients_roundtrip(setup):
    model, _, tables = setup
    atoms = ethanol()
    flat = model.flat_coefficients(atoms)
    assert flat.shape == (sum(tables.n_functions[tables.elements.index(s)] for s in atoms.get_chemical_symbols()),)
    types = np.array([tables.elements.index(s) for s in atoms.get_chemical_symbols()])
    from densnet.model.observables import padded_coefficients

    pad = padded_coefficients(flat, types, tables.n_functions, tables.max_functions)
    np.testing.assert_allclose(flat_coefficients(pad, types, tables.n_functions), flat)


def test_product_block_contributes_and_trains():
    """The many-body block changes the energy (the product configs above test a live block) and its
    parameters are trained with the energy network."""
    model, _, _ = random_model(config=CONFIGS["product"])
    atoms = ethanol()
    e1 = _props(model, [atoms], forces=False)["energy"].item()
    names = {id(p) for p in model.energy_parameters()}
    assert all(id(p) in names for p in model.energy_products.parameters())
    with torch.no_grad():
        for block in model.energy_products:
            block.w_out.zero_()
    e0 = _props(model, [atoms], forces=False)["energy"].item()
    assert abs(e1 - e0) > 1e-6 * max(abs(e0), 1.0)
    assert len(random_model()[0].energy_products) == 0  # energy_correlation 1: no block, old checkpoints load


def test_energy_residual_adds_each_layer_input():
    """energy_residual: the same weights give readout(h + layer(h)) per layer instead of readout(layer(h)); the
    flag changes no parameter, so a plain checkpoint loads into a residual model and vice versa."""
    plain, _, _ = random_model(config={"energy_layers": 2})
    res, _, _ = random_model(config={"energy_layers": 2, "energy_residual": True})
    res.load_state_dict(plain.state_dict())
    atoms = ethanol()
    e_plain = _props(plain, [atoms], forces=False)["energy"].item()
    e_res = _props(res, [atoms], forces=False)["energy"].item()
    assert abs(e_res - e_plain) > 1e-6 * max(abs(e_plain), 1.0)
    # by hand: run the plain model's layers with the residual sums added
    pos, types, ei, shift = to_inputs(atoms, plain.elements, plain.cutoff)
    vec = pos[ei[1]] - pos[ei[0]] + shift
    sh, radial, env = plain.edges(vec)
    h = plain._energy_embedding(plain.forward_edges(types, ei, vec, compute_energy=False)["delta_coeffs"], types)
    for layer in plain.energy_layers:
        h = h + layer(h, ei, sh, radial, env, [])[0]
    e_hand = plain.readout(h, types, plain.energy_scale, plain.energy_shift).sum().item()
    assert e_res == pytest.approx(e_hand, rel=1e-10, abs=1e-10)


def test_energy_radial_hidden_sets_only_the_energy_layers():
    """energy_radial_hidden 0 (default) keeps the shared radial width; a value widens the energy layers only."""
    plain, wide = random_model()[0], random_model(config={"energy_radial_hidden": 12})[0]
    width = lambda layer: layer.radial.net[0].out_features  # noqa: E731
    assert width(plain.energy_layers[0]) == width(plain.density_layers[0]) == plain.config["radial_hidden"]
    assert width(wide.energy_layers[0]) == 12 and width(wide.density_layers[0]) == wide.config["radial_hidden"] != 12


@pytest.mark.parametrize("energy_input", ["density", "elements"])
def test_energy_input_elements_ignores_the_density(energy_input):
    """energy_input 'elements' (ablation): the energy does not change with the density network's weights."""
    model, _, _ = random_model(config={"energy_input": energy_input})
    atoms = ethanol()
    e1 = _props(model, [atoms], forces=False)["energy"].item()
    with torch.no_grad():
        for p in model.density_head.parameters():
            p.mul_(1.5)
    e2 = _props(model, [atoms], forces=False)["energy"].item()
    changed = abs(e2 - e1) > 1e-8 * max(abs(e1), 1.0)
    assert changed == (energy_input == "density")


def test_mlp_init_normalized_keeps_unit_variance():
    """mlp_init 'normalized': unit-variance inputs give unit-variance outputs through SiLU layers (the
    PyTorch default init shrinks them); a bad scheme name is refused."""
    from densnet.model.interaction import MLP

    torch.manual_seed(0)
    x = torch.randn(20000, 8)
    stds = {}
    for init in ("torch", "normalized"):
        outs = [MLP([8, 64, 64, 64], init=init)(x).std().item() for _ in range(5)]
        stds[init] = float(np.mean(outs))
    assert 0.7 < stds["normalized"] < 1.4 and stds["torch"] < 0.5, stds
    with pytest.raises(ValueError, match="init"):
        MLP([2, 2], init="xavier")

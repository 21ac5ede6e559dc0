"""Normal-mode labels (densnet.harmonic.assign_mode): modes of synthetic valence force fields (water, ethanol,
partly deuterated ethanol, methanethiol), hand-made CO2 and formaldehyde displacements, the shipped ethanol
model through ``densnet harmonic``, the three-column sticks CSV and its readers, and the "mode (DFT)" column
of ir-table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule
from ase.data import covalent_radii

from densnet.bandtable import band_table, format_markdown, read_labelled_sticks, read_sticks
from densnet.cli import main
from densnet.harmonic import Modes, assign_mode, normal_modes
from densnet.spectra import read_csv_xy, read_sticks_csv

ROOT = Path(__file__).resolve().parents[1]

#: bond force constants k (eV/A^2, E = k/2 (r - r0)^2): about the textbook values (C-H 4.9 mdyn/A = 30 eV/A^2)
K_BOND = {("C", "H"): 30.0, ("H", "O"): 48.0, ("C", "C"): 28.0, ("C", "O"): 31.0, ("H", "S"): 24.0,
          ("C", "S"): 19.0}


def valence_hessian(atoms: Atoms, k_angle: float = 4.0, k_torsion: float = 0.05) -> np.ndarray:
    """Hessian [3N, 3N] (eV/A^2) at ``atoms`` of E = sum_bonds k/2 (r - r0)^2 + sum_angles k_angle/2
    (theta - theta0)^2 + sum_dihedrals k_torsion/2 (phi - phi0)^2, reference values = those of ``atoms`` (so
    it is a minimum); bonds: distance < 1.2 x covalent radii. Exact, by torch autograd (written here
    independently of densnet's internal coordinates)."""
    pos0, z, sym, n = atoms.positions, atoms.numbers, atoms.get_chemical_symbols(), len(atoms)
    bonds = [(i, j) for i in range(n) for j in range(i + 1, n)
             if np.linalg.norm(pos0[i] - pos0[j]) < 1.2 * (covalent_radii[z[i]] + covalent_radii[z[j]])]
    nb: dict[int, list[int]] = {i: [] for i in range(n)}
    for i, j in bonds:
        nb[i].append(j)
        nb[j].append(i)
    angles = [(i, j, k) for j in range(n) for a, i in enumerate(nb[j]) for k in nb[j][a + 1:]]
    dih = [(i, j, k, m) for j, k in bonds for i in nb[j] if i != k for m in nb[k] if m not in (i, j)]
    kb = torch.tensor([K_BOND[tuple(sorted((sym[i], sym[j])))] for i, j in bonds], dtype=torch.float64)
    bi, ai, di = (torch.tensor(x, dtype=torch.long).reshape(-1, w) for x, w in ((bonds, 2), (angles, 3), (dih, 4)))

    def internals(x):
        r = (x[bi[:, 1]] - x[bi[:, 0]]).norm(dim=1)
        v1, v2 = x[ai[:, 0]] - x[ai[:, 1]], x[ai[:, 2]] - x[ai[:, 1]]
        theta = torch.acos((v1 * v2).sum(1) / v1.norm(dim=1) / v2.norm(dim=1))
        b0, b1, b2 = x[di[:, 1]] - x[di[:, 0]], x[di[:, 2]] - x[di[:, 1]], x[di[:, 3]] - x[di[:, 2]]
        n1, n2 = torch.cross(b0, b1, dim=1), torch.cross(b1, b2, dim=1)
        m = torch.cross(n1, b1 / b1.norm(dim=1, keepdim=True), dim=1)
        return r, theta, torch.atan2((m * n2).sum(1), (n1 * n2).sum(1))

    x0 = torch.tensor(pos0, dtype=torch.float64)
    r0, th0, ph0 = (t.detach() for t in internals(x0))

    def energy(flat):
        r, theta, phi = internals(flat.reshape(-1, 3))
        dphi = torch.remainder(phi - ph0 + np.pi, 2 * np.pi) - np.pi
        return 0.5 * ((kb * (r - r0) ** 2).sum() + k_angle * ((theta - th0) ** 2).sum()
                      + k_torsion * (dphi**2).sum())

    return torch.autograd.functional.hessian(energy, x0.reshape(-1)).numpy()


def labelled_modes(atoms: Atoms, masses: np.ndarray | None = None) -> Modes:
    hess = valence_hessian(atoms)
    masses = atoms.get_masses() if masses is None else masses
    return normal_modes(hess, masses, atoms.positions).assign(atoms)


def test_water_bend_and_two_oh_stretches():
    modes = labelled_modes(molecule("H2O"))
    assert 1200 < modes.wavenumber[0] < 2000 and 3500 < modes.wavenumber[1] < modes.wavenumber[2] < 4200
    assert modes.labels == ["H-O-H bend", "O-H stretch", "O-H stretch"]
    # the label does not depend on the sign or norm of the vector, nor on symbols vs atomic numbers
    a = molecule("H2O")
    assert assign_mode(a.positions, a.numbers, -3.0 * modes.vectors[0]) == "H-O-H bend"


def test_ethanol_stretches_torsions_and_groups():
    """Synthetic ethanol: O-H stretch on top, then the five C-H stretches; the two lowest modes are the C-C
    (methyl) and C-O (hydroxyl) torsions (the softest coordinates: k_torsion 0.05 eV/rad^2)."""
    a = molecule("CH3CH2OH")
    modes = labelled_modes(a)
    labels = modes.labels
    assert len(labels) == 21
    assert labels[-1] == "O-H stretch"
    assert all(lab.startswith("C-H stretch") for lab in labels[-6:-1]), labels
    assert not any("stretch" in lab and "H" in lab for lab in labels[:-6]), labels
    assert sorted(labels[:2]) == ["C-C torsion", "C-O torsion"], labels
    assert not any("torsion" in lab for lab in labels[2:]), labels
    assert any(lab.startswith("H-C-H bend") for lab in labels) and "C-O-H bend" in labels


def test_partly_deuterated_ethanol_methyl_and_methylene_groups():
    """CH3-CD2-OH: the C-D stretches (~2200 cm^-1, D = "H" by element) are decoupled from the C-H ones, so
    the three C-H stretches must be "(CH3)" and the two C-D ones "(CH2)"."""
    a = molecule("CH3CH2OH")
    methylene = [i for i in range(len(a)) if a[i].symbol == "H" and a.get_distance(i, 1) < 1.2]  # H on C 1
    assert len(methylene) == 2
    masses = a.get_masses()
    masses[methylene] = 2.014
    modes = labelled_modes(a, masses)
    labels, wn = modes.labels, modes.wavenumber
    assert labels[-1] == "O-H stretch"
    assert labels[-4:-1] == ["C-H stretch (CH3)"] * 3, list(zip(wn, labels, strict=True))
    cd = [lab for w, lab in zip(wn, labels, strict=True) if 2000 < w < 2500]
    assert cd == ["C-H stretch (CH2)"] * 2, list(zip(wn, labels, strict=True))


def test_methanethiol_sulfur_modes():
    modes = labelled_modes(molecule("CH3SH"))
    labels, wn = modes.labels, modes.wavenumber
    assert labels[0] == "C-S torsion"
    assert labels[-3:] == ["C-H stretch (CH3)"] * 3
    (sh,) = [w for w, lab in zip(wn, labels, strict=True) if lab == "S-H stretch"]
    assert 2400 < sh < 2800
    (cs,) = [w for w, lab in zip(wn, labels, strict=True) if lab == "C-S stretch"]
    assert 500 < cs < 900


def test_linear_co2_bend_and_stretch():
    """At a linear centre the first-order angle change vanishes: the bend is still found (perpendicular
    amplitude); the antisymmetric stretch is a C-O stretch."""
    pos = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.16], [0.0, 0.0, -1.16]])
    bend = np.array([[0.0, 1.0, 0.0], [0.0, -0.37, 0.0], [0.0, -0.37, 0.0]])
    asym = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -0.37], [0.0, 0.0, -0.37]])
    assert assign_mode(pos, ["C", "O", "O"], bend) == "O-C-O bend"
    assert assign_mode(pos, ["C", "O", "O"], asym) == "C-O stretch"


def test_planar_out_of_plane_wag():
    """At a planar centre the in-plane angles do not change to first order when the H atoms move out of the
    plane: formaldehyde's out-of-plane mode is the CH2 wag, its in-plane rock an O-C-H bend."""
    a = molecule("H2CO")  # O 0, C 1, H 2 and 3, in the yz plane
    assert a.get_chemical_symbols() == ["O", "C", "H", "H"] and np.abs(a.positions[:, 0]).max() < 1e-9
    wag = np.zeros((4, 3))
    wag[[2, 3], 0], wag[1, 0] = 1.0, -2 * 1.008 / 12.011
    assert assign_mode(a.positions, a.numbers, wag) == "C-H wag (CH2)"
    rock = np.zeros((4, 3))  # both H turned in-plane about C (the same sense): the CH2 rock
    rock[[2, 3]] = np.cross([1.0, 0.0, 0.0], a.positions[[2, 3]] - a.positions[1])
    assert assign_mode(a.positions, a.numbers, rock) == "O-C-H bend (CH2)"


def test_sticks_csv_two_and_three_columns(tmp_path):
    """Old two-column and new three-column sticks read everywhere; a label with a comma is quoted."""
    modes = Modes(np.array([1000.0, 3700.0]), np.array([5.0, 20.0]), np.zeros((2, 3, 3)),
                  ["H-O-H bend", "odd, label"])
    modes.write_csv(tmp_path / "new.csv", "test")
    text = (tmp_path / "new.csv").read_text().splitlines()
    assert text[1] == "wavenumber_cm-1,intensity_km/mol,mode" and text[2] == "1000.000,5.000000,H-O-H bend"
    assert text[3] == '3700.000,20.000000,"odd, label"'
    nu, inten, labels = read_sticks_csv(tmp_path / "new.csv")
    np.testing.assert_array_equal(nu, [1000.0, 3700.0])
    np.testing.assert_array_equal(inten, [5.0, 20.0])
    assert labels == ["H-O-H bend", "odd, label"]
    (tmp_path / "old.csv").write_text("# old\nwavenumber_cm-1,intensity_km/mol\n1000.0,5.0\n3700.0,20.0\n")
    assert read_sticks_csv(tmp_path / "old.csv")[2] == ["", ""]
    for f in ("old.csv", "new.csv"):
        nu, inten = read_csv_xy(tmp_path / f)  # densnet ir --sticks / --reference
        np.testing.assert_array_equal(inten, [5.0, 20.0])
        nu, inten = read_sticks([str(tmp_path / f)])
        np.testing.assert_array_equal(nu, [1000.0, 3700.0])
    nu, inten, labels = read_labelled_sticks([f"{tmp_path / 'old.csv'}:0.5", str(tmp_path / "new.csv")])
    np.testing.assert_array_equal(inten, [2.5, 10.0, 5.0, 20.0])
    assert labels == ["", "", "H-O-H bend", "odd, label"]
    # no labels: no third column, the old format
    Modes(nu[:1], inten[:1], np.zeros((1, 3, 3))).write_csv(tmp_path / "plain.csv")
    assert (tmp_path / "plain.csv").read_text() == "wavenumber_cm-1,intensity_km/mol\n1000.000,2.500000\n"


def test_ir_table_mode_column(tmp_path):
    """The strongest stick of a merged band names it; two distinct labels are joined; the column appears only
    with labelled DFT sticks and the experimental assignment column stays."""
    (tmp_path / "dft.csv").write_text("wavenumber_cm-1,intensity_km/mol,mode\n"
                                      "1050,40,C-O stretch\n1055,10,C-C-H bend (CH3)\n1230,30,C-O-H bend\n"
                                      "3000,5,C-H stretch (CH2)\n3003,25,C-H stretch (CH2)\n3700,20,O-H stretch\n")
    (tmp_path / "peaks.csv").write_text("wavenumber_cm-1,relative_height\n1050,1.0\n1228,0.5\n3690,0.3\n")
    (tmp_path / "bands.txt").write_text("1065 C-O stretch (exp)\n")
    assert main(["ir-table", str(tmp_path / "peaks.csv"), "--dft-sticks", str(tmp_path / "dft.csv"),
                 "--bands", str(tmp_path / "bands.txt"), "-o", str(tmp_path / "t.md")]) in (0, None)
    text = (tmp_path / "t.md").read_text()
    assert "| assignment (experiment) | mode (DFT) | experiment | DFT harmonic |" in text
    assert "| C-O stretch (exp) | C-O stretch / C-C-H bend (CH3) | 1065 | 1051 |" in text
    assert "| - | C-O-H bend | - | 1230 |" in text
    assert "| - | C-H stretch (CH2) | - | 3002 |" in text  # merged pair, one distinct label
    assert "| - | O-H stretch | - | 3700 |" in text
    header, sep = text.split("\n\n")[1].splitlines()[:2]
    assert header.count("|") == sep.count("|")
    # the same sticks without labels: the old table
    rows = band_table(read_sticks([str(tmp_path / "dft.csv")]), [(1050.0, 1.0)])
    assert all(r.mode == "" for r in rows) and "mode (DFT)" not in format_markdown(rows, 20.0, False)


def test_cli_harmonic_writes_mode_labels(tmp_path):
    """``densnet harmonic`` with the shipped ethanol model at the PBE/def2-SVP trans minimum (no optimisation,
    a few seconds): every stick has a label; physics of ethanol: O-H stretch on top, five C-H stretches below
    it, the two lowest modes torsions, the strongest band the OH torsion, the strongest band between 1000 and
    1150 cm^-1 the C-O stretch."""
    ckpt = ROOT / "examples/ethanol/model_stable/model.ckpt"
    xyz = ROOT / "examples/spectra/ethanol_trans_pbe_def2svp_opt.xyz"
    if not ckpt.is_file():
        pytest.skip("shipped model not present")
    out = tmp_path / "sticks.csv"
    assert main(["harmonic", str(ckpt), str(xyz), "--no-optimise", "-o", str(out)]) in (0, None)
    assert out.read_text().splitlines()[1] == "wavenumber_cm-1,intensity_km/mol,mode"
    nu, inten, labels = read_sticks_csv(out)
    assert len(labels) == 21 and all(labels)
    assert labels[-1] == "O-H stretch" and all(lab.startswith("C-H stretch") for lab in labels[-6:-1])
    assert all(lab.endswith("torsion") for lab in labels[:2])
    assert labels[int(np.argmax(inten))] == "C-O torsion"
    window = np.flatnonzero((nu > 1000) & (nu < 1150))
    assert labels[window[np.argmax(inten[window])]] == "C-O stretch"

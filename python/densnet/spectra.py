"""IR spectra from dipole time series: a small class with overridable steps (load -> preprocess -> correlate
-> window -> transform -> units), readers for densnet/LAMMPS outputs, peak picking, CSV and plots.

Conventions (docs/spectra.md): time in fs, dipole in e*A, wavenumbers in cm^-1. The computed line shape is
the cosine transform of the (windowed) autocorrelation of the dipole time derivative,

    D(nu) = dt * [C(0) w(0) + 2 sum_{k>=1} C(k dt) w(k dt) cos(2 pi c nu k dt)],
    C(t) = < mudot(t0) . mudot(t0 + t) >   (mean over t0 and over trajectories),

in (e*A)^2/fs. With the temperature T known it is converted to the classical absorption cross-section
in km/mol per cm^-1, I(nu) = N_A / (12 eps0 c^2) * 2 c D(nu) / (k T), whose band areas equal harmonic IR
intensities (km/mol) for harmonic motion, so they compare directly with ``densnet harmonic`` sticks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import units

from .errors import DensnetError

C_CM_PER_FS = units._c * 100.0 * 1e-15  # speed of light in cm/fs
#: N_A / (12 eps0 c^2) * (e^2/amu) in km/mol: harmonic IR intensity of |dmu/dQ| = 1 e/sqrt(amu) (= 974.86)
KM_PER_MOL = units._Nav * units._e**2 / (12.0 * units._eps0 * units._c**2 * units._amu) * 1e-3
MIN_POINTS = 16


@dataclass
class DipoleSeries:
    """One dipole trajectory: ``time`` [N] in fs (uniform), ``dipole`` [N, 3] in e*A."""

    time: np.ndarray
    dipole: np.ndarray
    source: str = ""
    temperature: float | None = None  # K, when the file says it (densnet md header)

    @property
    def dt(self) -> float:
        return float(self.time[1] - self.time[0])


@dataclass
class Spectrum:
    """``wavenumber`` [M] cm^-1, ``intensity`` [M] (``unit``), ``resolution`` cm^-1 (FWHM of a pure cosine)."""

    wavenumber: np.ndarray
    intensity: np.ndarray
    unit: str
    resolution: float
    correlation_fs: float
    n_series: int
    info: dict = field(default_factory=dict)

    def write_csv(self, path: str | Path) -> None:
        header = f"wavenumber_cm-1,intensity_{self.unit.replace(' ', '_')}\n"
        rows = "\n".join(f"{w:.4f},{i:.8e}" for w, i in zip(self.wavenumber, self.intensity, strict=True))
        Path(path).write_text(f"# densnet ir: resolution {self.resolution:.2f} cm^-1 (FWHM), correlation "
                              f"{self.correlation_fs:.1f} fs, {self.n_series} series\n" + header + rows + "\n")


# ----------------------------------------------------------------------------------------------------- readers

def _check_series(time: np.ndarray, dipole: np.ndarray, source: str, rtol: float = 1e-4) -> None:
    if len(time) < MIN_POINTS:
        raise DensnetError(f"{source}: {len(time)} time steps; at least {MIN_POINTS} are needed for a spectrum")
    if not (np.all(np.isfinite(time)) and np.all(np.isfinite(dipole))):
        raise DensnetError(f"{source}: non-finite values in the time series")
    d = np.diff(time)
    if d[0] <= 0 or np.max(np.abs(d - d[0])) > rtol * abs(d[0]) + 1e-9:
        k = int(np.argmax(np.abs(d - d[0])))
        raise DensnetError(f"{source}: non-uniform time step ({d[0]:g} fs at the start, {d[k]:g} fs after "
                           f"t = {time[k]:g} fs); spectra need a uniform step (restarted run written twice?)")


def read_table(path: str | Path, timestep: float | None = None) -> DipoleSeries:
    """Whitespace table with ``#`` comments: ``time_fs mu_x mu_y mu_z`` (densnet md, ``fix print``) or
    ``step mu_x mu_y mu_z`` (LAMMPS ``fix ave/time``: then ``timestep`` in fs per step is required).

    The last ``#`` line before the data names the columns; ``TimeStep``/``step`` as first name means steps.
    Extra columns after the fourth are ignored. ``# temperature_K T`` sets the temperature.
    """
    path = Path(path)
    if not path.is_file():
        raise DensnetError(f"{path}: no such file")
    names: list[str] = []
    temperature = None
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            words = s[1:].split()
            if len(words) >= 2 and words[0] == "temperature_K":
                temperature = float(words[1])
            elif words and not rows:
                names = words
            continue
        parts = s.split()
        if len(parts) < 4:
            raise DensnetError(f"{path}:{n}: {len(parts)} columns; need 4 (time or step, mu_x, mu_y, mu_z)")
        try:
            rows.append([float(x) for x in parts[:4]])
        except ValueError as exc:
            raise DensnetError(f"{path}:{n}: not a number ({exc})") from None
    if not rows:
        raise DensnetError(f"{path}: no data rows (empty time series)")
    data = np.asarray(rows)
    steps = bool(names) and names[0].lower() in ("timestep", "step", "steps")
    if names and names[0] == "time_fs":  # densnet md: times in fs whatever --timestep says
        timestep, steps = None, False
    if steps or timestep is not None:
        if timestep is None:
            raise DensnetError(f"{path}: the first column is a step number ({names[0]}); give --timestep (fs)")
        time = data[:, 0] * timestep
    else:
        time = data[:, 0]
    _check_series(time, data[:, 1:4], str(path))
    return DipoleSeries(time, data[:, 1:4].copy(), str(path), temperature)


def _dump_header(path: Path) -> tuple[list[str], bool]:
    """(column names of ITEM: ATOMS, periodic in any direction) from the first frame of a LAMMPS dump."""
    periodic = False
    with path.open() as f:
        for _ in range(1000):
            line = f.readline()
            if not line:
                break
            if line.startswith("ITEM: BOX BOUNDS"):
                flags = line.split()[3:]
                periodic = any(fl.startswith("pp") for fl in flags if len(fl) == 2)
            if line.startswith("ITEM: ATOMS"):
                return line.split()[2:], periodic
    raise DensnetError(f"{path}: not a LAMMPS dump (no 'ITEM: ATOMS' line)")


def _dipole_columns(names: list[str], columns: list[str] | None, path: Path) -> list[str]:
    if columns:
        missing = [c for c in columns if c not in names]
        if len(columns) != 4 or missing:
            raise DensnetError(f"{path}: need 4 columns q px py pz; missing {missing} (dump has {names})")
        return list(columns)
    ids = sorted({m.group(1) for c in names if (m := re.fullmatch(r"c_(\w+)\[1\]", c))})
    ids = [i for i in ids if all(f"c_{i}[{k}]" in names for k in (1, 2, 3, 4))]
    if len(ids) != 1:
        raise DensnetError(f"{path}: cannot tell the charge/dipole columns (need c_ID[1..4] of one "
                           f"compute densnet/atom, found {names}); give --dump-columns q,px,py,pz")
    return [f"c_{ids[0]}[{k}]" for k in (1, 2, 3, 4)]


def read_lammps_dump(path: str | Path, timestep: float, columns: list[str] | None = None) -> DipoleSeries:
    """Molecular dipole mu = sum_i q_i R_i(unwrapped) + p_i (e*A) of every frame of a LAMMPS ``dump custom``
    with ``compute densnet/atom`` columns, read with MDAnalysis. ``timestep`` in fs per MD step.

    Coordinates: ``xu yu zu`` (unwrapped), or ``x y z``/``xs ys zs`` plus image flags ``ix iy iz``; wrapped
    coordinates without image flags are refused for periodic boxes.
    """
    import MDAnalysis as mda

    path = Path(path)
    if not path.is_file():
        raise DensnetError(f"{path}: no such file")
    names, periodic = _dump_header(path)
    cols = _dipole_columns(names, columns, path)
    unwrapped = all(c in names for c in ("xu", "yu", "zu")) or all(c in names for c in ("xsu", "ysu", "zsu"))
    images = all(c in names for c in ("ix", "iy", "iz"))
    if periodic and not unwrapped and not images:
        raise DensnetError(f"{path}: wrapped coordinates without image flags in a periodic box: dump "
                           "xu yu zu, or x y z ix iy iz (molecules must be whole for the dipole)")
    convention = "unwrapped" if all(c in names for c in ("xu", "yu", "zu")) else "auto"
    try:
        u = mda.Universe(str(path), format="LAMMPSDUMP", lammps_coordinate_convention=convention,
                         unwrap_images=images and not unwrapped, additional_columns=cols,
                         dt=timestep * 1e-3)
    except (ValueError, OSError, IndexError) as exc:
        raise DensnetError(f"{path}: MDAnalysis could not read the dump ({exc})") from None
    steps, mus = [], []
    for ts in u.trajectory:
        q = np.asarray(ts.data[cols[0]], dtype=float)
        p = np.stack([np.asarray(ts.data[c], dtype=float) for c in cols[1:]], axis=1)
        mus.append(q @ ts.positions.astype(np.float64) + p.sum(axis=0))
        steps.append(ts.data["step"])
    time = np.asarray(steps, dtype=float) * timestep
    mu = np.asarray(mus)
    _check_series(time, mu, str(path))
    return DipoleSeries(time, mu, str(path))


def read_series(path: str | Path, timestep: float | None = None, columns: list[str] | None = None) -> DipoleSeries:
    """Any supported input: LAMMPS dump (``ITEM:`` header) or a dipole table (see :func:`read_table`)."""
    path = Path(path)
    if not path.is_file():
        raise DensnetError(f"{path}: no such file")
    with path.open() as f:
        first = f.readline()
    if first.startswith("ITEM:"):
        if timestep is None:
            raise DensnetError(f"{path}: a LAMMPS dump needs --timestep (fs per MD step)")
        return read_lammps_dump(path, timestep, columns)
    return read_table(path, timestep)


# ----------------------------------------------------------------------------------------------------- spectrum

def window_function(name: str, n: int) -> np.ndarray:
    """One-sided lag window [n], 1 at lag 0 and ~0 at the end: hann (cos^2), hamming, blackman, none."""
    x = np.arange(n) / max(n, 1)  # 0 .. (n-1)/n of the correlation length
    if name == "hann":
        return np.cos(0.5 * np.pi * x) ** 2
    if name == "hamming":
        return 0.54 + 0.46 * np.cos(np.pi * x)
    if name == "blackman":
        return 0.42 + 0.5 * np.cos(np.pi * x) + 0.08 * np.cos(2 * np.pi * x)
    if name in ("none", "boxcar"):
        return np.ones(n)
    raise DensnetError(f"unknown window {name!r} (hann, hamming, blackman, none)")


def line_fwhm(w: np.ndarray, dt: float) -> float:
    """FWHM (cm^-1) of the line a pure cosine gives with the one-sided lag window ``w`` [n] at step ``dt`` fs."""
    m = 64 * len(w)
    spec = 2 * np.fft.rfft(w, n=m).real - w[0]
    nu = np.fft.rfftfreq(m, dt) / C_CM_PER_FS
    half = spec[0] / 2
    k = int(np.argmax(spec < half))
    frac = (spec[k - 1] - half) / (spec[k - 1] - spec[k])
    return 2 * (nu[k - 1] + frac * (nu[k] - nu[k - 1]))


class IRSpectrum:
    """IR line shape from dipole time series; override any step to change the method.

    ``correlation_fs``: length of the autocorrelation used (default: half the shortest series);
    ``window``: lag window; ``zero_pad``: transform length as a multiple of the correlation length;
    ``method``: "derivative" (ACF of the central-difference dmu/dt) or "omega2" (omega^2 x FT of the dipole ACF);
    ``quantum_correction``: None or "harmonic" (x/(1-exp(-x)), x = h c nu / kT; needs the temperature);
    ``temperature`` (K): converts to km/mol per cm^-1 (else (e*A)^2/fs).
    """

    def __init__(self, correlation_fs: float | None = None, window: str = "hann", zero_pad: int = 4,
                 method: str = "derivative", quantum_correction: str | None = None,
                 temperature: float | None = None, max_wavenumber: float = 5000.0) -> None:
        if method not in ("derivative", "omega2"):
            raise DensnetError(f"unknown method {method!r} (derivative, omega2)")
        if quantum_correction not in (None, "none", "harmonic"):
            raise DensnetError(f"unknown quantum correction {quantum_correction!r} (none, harmonic)")
        if zero_pad < 1:
            raise DensnetError("zero padding factor must be >= 1")
        window_function(window, 2)
        self.correlation_fs = correlation_fs
        self.window_name = window
        self.zero_pad = zero_pad
        self.method = method
        self.quantum_correction = None if quantum_correction == "none" else quantum_correction
        self.temperature = temperature
        self.max_wavenumber = max_wavenumber

    # -- steps -------------------------------------------------------------------------------------------------
    def load(self, paths, timestep: float | None = None, columns: list[str] | None = None) -> list[DipoleSeries]:
        return [read_series(p, timestep, columns) for p in paths]

    def preprocess(self, s: DipoleSeries) -> np.ndarray:
        """Mean-removed dipole, or its time derivative (e*A/fs), [N, 3]."""
        x = s.dipole - s.dipole.mean(axis=0)
        if self.method == "derivative":
            x = np.gradient(x, s.dt, axis=0)
            x -= x.mean(axis=0)
        return x

    def correlate(self, x: np.ndarray, n_lags: int) -> tuple[np.ndarray, np.ndarray]:
        """(sum over t0 of x(t0).x(t0+k), number of pairs) for k < n_lags, by FFT with zero padding."""
        n = len(x)
        m = 1 << int(np.ceil(np.log2(2 * n)))
        f = np.fft.rfft(x, n=m, axis=0)
        acf = np.fft.irfft((f * f.conj()).real.sum(axis=1), n=m)[:n_lags]
        return acf, np.arange(n, n - n_lags, -1, dtype=float)

    def window(self, acf: np.ndarray) -> np.ndarray:
        return acf * window_function(self.window_name, len(acf))

    def transform(self, acf: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """Cosine transform of the even extension: (wavenumber cm^-1, D in acf units x fs)."""
        m = self.zero_pad * 2 * len(acf)
        spec = dt * (2 * np.fft.rfft(acf, n=m).real - acf[0])
        nu = np.fft.rfftfreq(m, dt) / C_CM_PER_FS
        if self.method == "omega2":
            spec = spec * (2 * np.pi * C_CM_PER_FS * nu) ** 2
        return nu, spec

    def units(self, nu: np.ndarray, spec: np.ndarray, temperature: float | None) -> tuple[np.ndarray, str]:
        if temperature is None:
            if self.quantum_correction:
                raise DensnetError("the harmonic quantum correction needs the temperature (--temperature)")
            return spec, "(e*A)^2/fs"
        # SI: I = N_A / (12 eps0 c^2) * 2 c[cm/s] * D[C^2 m^2/s] / kT[J]  (m/mol per cm^-1; 1e-3 -> km/mol)
        d_si = spec * units._e**2 * 1e-20 / 1e-15
        kt = units._k * temperature
        out = KM_PER_MOL * units._amu / units._e**2 * 2 * C_CM_PER_FS * 1e15 * d_si / kt
        if self.quantum_correction == "harmonic":
            x = units._hplanck * units._c * 100 * nu / (units._k * temperature)
            out = out * np.where(x > 1e-12, x / -np.expm1(-np.maximum(x, 1e-12)), 1.0)
        return out, "km/mol/cm^-1"

    # -- driver ------------------------------------------------------------------------------------------------
    def compute(self, series: list[DipoleSeries]) -> Spectrum:
        """Average the (unbiased) autocorrelations of all series, then window, transform and convert."""
        if not series:
            raise DensnetError("no time series given")
        dt = series[0].dt
        for s in series[1:]:
            if abs(s.dt - dt) > 1e-6 * dt:
                raise DensnetError(f"{s.source}: time step {s.dt:g} fs differs from {dt:g} fs of {series[0].source}")
        n_min = min(len(s.time) for s in series)
        n_lags = n_min // 2 if self.correlation_fs is None else int(round(self.correlation_fs / dt)) + 1
        if n_lags < 8 or n_lags > n_min:
            raise DensnetError(f"correlation length of {n_lags} steps does not fit the shortest series "
                               f"({n_min} steps of {dt:g} fs); use 8 .. {n_min} steps")
        total, count = np.zeros(n_lags), np.zeros(n_lags)
        for s in series:
            acf, cnt = self.correlate(self.preprocess(s), n_lags)
            total += acf
            count += cnt
        acf = total / count
        nu, spec = self.transform(self.window(acf), dt)
        temps = {s.temperature for s in series if s.temperature is not None}
        temperature = self.temperature if self.temperature is not None else (temps.pop() if len(temps) == 1 else None)
        intensity, unit = self.units(nu, spec, temperature)
        keep = nu <= self.max_wavenumber
        res = line_fwhm(window_function(self.window_name, n_lags), dt)
        return Spectrum(nu[keep], intensity[keep], unit, res, (n_lags - 1) * dt, len(series),
                        {"dt_fs": dt, "temperature": temperature, "nyquist_cm-1": 0.5 / dt / C_CM_PER_FS})


# ----------------------------------------------------------------------------------------------------- extras

def find_peaks(nu: np.ndarray, y: np.ndarray, prominence: float = 0.02, min_wavenumber: float = 50.0,
               max_peaks: int = 30) -> list[tuple[float, float]]:
    """(wavenumber, height relative to the highest peak) of peaks with prominence >= ``prominence`` x max,
    positions refined by a parabola through the top three points; sorted by wavenumber."""
    from scipy.signal import find_peaks as _fp

    sel = nu >= min_wavenumber
    nu, y = nu[sel], y[sel]
    if len(y) < 3 or y.max() <= 0:
        return []
    idx, props = _fp(y, prominence=prominence * y.max(), height=prominence * y.max())
    idx = idx[np.argsort(props["prominences"])[::-1][:max_peaks]]
    out = []
    for i in sorted(idx):
        a, b, c = y[i - 1], y[i], y[i + 1]
        den = a - 2 * b + c
        shift = 0.5 * (a - c) / den if den != 0 else 0.0
        out.append((float(nu[i] + shift * (nu[i + 1] - nu[i])), float(b / y.max())))
    return out


def read_bands(path: str | Path) -> list[tuple[float, str]]:
    """Experimental band positions: one per line ``wavenumber [label]``, ``#`` comments."""
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        s = line.split("#", 1)[0].strip()
        if not s:
            continue
        w, *label = s.split(None, 1)
        try:
            out.append((float(w), label[0].strip() if label else ""))
        except ValueError:
            raise DensnetError(f"{path}:{n}: expected 'wavenumber [label]', got {line!r}") from None
    return out


def read_sticks_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Stick spectrum of ``densnet harmonic``: (wavenumber [M] cm^-1, intensity [M] km/mol, mode labels [M]).

    Reads old two-column files (``wavenumber_cm-1,intensity_km/mol``; labels then "") and new ones with a
    third column ``mode`` (CSV quoting allowed); ``#`` comment and header lines are skipped."""
    import csv

    nu, inten, labels = [], [], []
    with open(path, newline="") as fh:
        for row in csv.reader(line for line in fh if not line.lstrip().startswith("#")):
            try:
                x, y = float(row[0]), float(row[1])
            except (ValueError, IndexError):
                continue
            nu.append(x)
            inten.append(y)
            labels.append(row[2].strip() if len(row) > 2 else "")
    if not nu:
        raise DensnetError(f"{path}: no numeric rows 'wavenumber,intensity[,mode]'")
    return np.asarray(nu), np.asarray(inten), labels


def read_csv_xy(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """First two numeric columns of a CSV (comment/header lines skipped): spectrum or sticks (further columns,
    such as the ``mode`` label of ``densnet harmonic`` sticks, are ignored)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        parts = [p.strip() for p in line.split(",")]
        try:
            rows.append((float(parts[0]), float(parts[1])))
        except (ValueError, IndexError):
            continue
    if not rows:
        raise DensnetError(f"{path}: no numeric rows 'wavenumber,intensity'")
    a = np.asarray(rows)
    return a[:, 0], a[:, 1]


def broaden(sticks_nu: np.ndarray, sticks_int: np.ndarray, nu: np.ndarray, fwhm: float,
            shape: str = "gaussian") -> np.ndarray:
    """Sum of area-normalised lines (area = stick intensity, km/mol -> km/mol/cm^-1) on the grid ``nu``."""
    d = nu[:, None] - sticks_nu[None, :]
    if shape == "lorentzian":
        g = (fwhm / 2 / np.pi) / (d**2 + (fwhm / 2) ** 2)
    else:
        s = fwhm / (2 * np.sqrt(2 * np.log(2)))
        g = np.exp(-0.5 * (d / s) ** 2) / (s * np.sqrt(2 * np.pi))
    return g @ sticks_int


def plot(spec: Spectrum, path: str | Path, bands: list[tuple[float, str]] | None = None,
         reference: tuple[np.ndarray, np.ndarray, str] | None = None,
         sticks: tuple[np.ndarray, np.ndarray, str] | None = None, stick_fwhm: float = 20.0,
         xlim: tuple[float, float] = (400.0, 4000.0), title: str | None = None) -> None:
    """PNG (Agg) of the spectrum with optional experimental band markers, reference curve and broadened sticks;
    overlays are scaled to the spectrum's maximum in ``xlim``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    sel = (spec.wavenumber >= xlim[0]) & (spec.wavenumber <= xlim[1])
    top = spec.intensity[sel].max() if sel.any() and spec.intensity[sel].max() > 0 else 1.0
    ax.plot(spec.wavenumber, spec.intensity, color="k", lw=1.2, label=f"MD ({spec.resolution:.0f} cm$^{{-1}}$ res.)")
    if reference is not None:
        x, y, name = reference
        m = (x >= xlim[0]) & (x <= xlim[1])
        ax.plot(x, y * top / (y[m].max() if m.any() and y[m].max() > 0 else 1.0), color="tab:blue", lw=1.0,
                label=f"{name} (scaled)")
    if sticks is not None:
        x, y, name = sticks
        grid = np.linspace(xlim[0], xlim[1], 4000)
        b = broaden(x, y, grid, stick_fwhm)
        scale = top / b.max() if b.max() > 0 else 1.0
        ax.plot(grid, b * scale, color="tab:red", lw=1.0, label=f"{name} ({stick_fwhm:g} cm$^{{-1}}$, scaled)")
        ax.vlines(x, 0, y * scale * b.max() / max(y.max(), 1e-30) * 0.3, color="tab:red", lw=0.8)
    if bands:
        for k, (w, label) in enumerate(bands):
            ax.axvline(w, color="tab:green", lw=0.7, ls="--", label="experiment" if k == 0 else None)
            if label:
                ax.text(w, top * (1.02 - 0.06 * (k % 4)), label, rotation=90, fontsize=6, va="top", ha="right")
    ax.set_xlim(*xlim)
    ax.set_ylim(0, top * 1.1)
    ax.set_xlabel("wavenumber (cm$^{-1}$)")
    ax.set_ylabel(f"intensity ({spec.unit})")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def _plot_title(inputs: list[str]) -> str:
    """File names, or ``parent/name`` when names repeat (replica-00/dipole.dat, ...); one averaged series
    count when that is still too long."""
    names = [Path(i).name for i in inputs]
    if len(set(names)) < len(names):
        names = [f"{Path(i).parent.name}/{Path(i).name}" for i in inputs]
    title = ", ".join(names)
    return title if len(title) <= 80 else f"{len(inputs)} series averaged ({names[0]}, ...)"


def command(inputs: list[str], output: str | None, timestep: float | None = None, columns: str | None = None,
            correlation_fs: float | None = None, window: str = "hann", zero_pad: int = 4,
            method: str = "derivative", quantum_correction: str = "none", temperature: float | None = None,
            plot_path: str | None = None, bands: str | None = None, reference: str | None = None,
            sticks: str | None = None, stick_fwhm: float = 20.0, peaks_path: str | None = None,
            prominence: float = 0.02, xlim: tuple[float, float] = (400.0, 4000.0)) -> Spectrum:
    """``densnet ir``: read, compute, write CSV/PNG/peak table; prints the peak table and the resolution."""
    ir = IRSpectrum(correlation_fs, window, zero_pad, method, quantum_correction, temperature)
    cols = [c.strip() for c in columns.split(",")] if columns else None
    spec = ir.compute(ir.load(inputs, timestep, cols))
    print(f"{spec.n_series} series, dt {spec.info['dt_fs']:g} fs, correlation {spec.correlation_fs:.0f} fs, "
          f"resolution {spec.resolution:.1f} cm^-1 (FWHM, {window} window), Nyquist "
          f"{spec.info['nyquist_cm-1']:.0f} cm^-1, intensity in {spec.unit}")
    pk = find_peaks(spec.wavenumber, spec.intensity, prominence)
    table = "wavenumber_cm-1,relative_height\n" + "\n".join(f"{w:.1f},{h:.3f}" for w, h in pk)
    print(table)
    if peaks_path:
        Path(peaks_path).write_text(f"# resolution {spec.resolution:.2f} cm^-1\n" + table + "\n")
    if output:
        spec.write_csv(output)
    if plot_path:
        ref = (*read_csv_xy(reference), Path(reference).stem) if reference else None
        st = (*read_csv_xy(sticks), Path(sticks).stem) if sticks else None
        plot(spec, plot_path, read_bands(bands) if bands else None, ref, st, stick_fwhm, xlim,
             title=_plot_title(inputs))
    return spec

"""``densnet ir-table``: the peak table of issue-style IR validations.

For every strong band of the DFT harmonic spectrum (stick clusters, see :func:`strong_bands`) the table gives
the nearest significant densnet MD peak (``densnet ir --peaks``; minor peaks, the ripples and side lobes beside a
stronger peak, are skipped: see :func:`significant_peaks`), the nearest band of densnet's own harmonic spectrum
(``densnet harmonic MODEL``), the nearest experimental band with its assignment (``--bands`` file), and the
deviations. When the DFT stick files carry the ``mode`` column of ``densnet harmonic`` (a heuristic label per
normal mode, :func:`densnet.harmonic.assign_mode`), each band also gets its "mode (DFT)" label: the label of its
strongest stick, or the two distinct labels of its two strongest sticks joined by " / ". All wavenumbers in
cm^-1, intensities of sticks in km/mol.

Verdict per row (tolerance ``--tolerance``, default 20 cm^-1):

* bands below ``--xh-above`` (default 2500 cm^-1): |MD - DFT harmonic| <= tolerance;
* X-H stretches (above it): MD peaks sit below harmonic ones by the anharmonic red shift of the mode (a
  property of the potential, not an error of the model), so the verdict is on densnet's harmonic band
  instead, |densnet harmonic - DFT harmonic| <= tolerance (the same potential-energy curvature); the MD
  deviation is still listed. Without model sticks such rows get no verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DensnetError
from .spectra import read_bands, read_csv_xy, read_sticks_csv


@dataclass
class BandRow:
    """One strong DFT harmonic band and what lies nearest to it (cm^-1; ``None`` = nothing within the window)."""

    dft: float
    dft_intensity: float  # km/mol, summed over the merged sticks
    model: float | None
    md: float | None
    md_height: float | None  # MD peak height / highest MD peak
    experiment: float | None
    assignment: str
    xh_stretch: bool
    mode: str = ""  # label(s) of the DFT normal mode(s), "" when the stick files have none

    def deviation(self, other: float | None) -> float | None:
        return None if other is None else other - self.dft

    def verdict(self, tolerance: float, have_model: bool = True) -> str:
        """"ok"/"off" (deviation within/beyond ``tolerance``), "no match", or "not judged" (an X-H stretch
        when no densnet harmonic spectrum was given)."""
        if self.xh_stretch and not have_model:
            return "not judged"
        value = self.deviation(self.model if self.xh_stretch else self.md)
        if value is None:
            return "no match"
        return "ok" if abs(value) <= tolerance else "off"


def strong_bands(nu: np.ndarray, intensity: np.ndarray, min_fraction: float = 0.1,
                 merge: float = 10.0) -> list[tuple[float, float]]:
    """(wavenumber, intensity) of stick clusters with intensity >= ``min_fraction`` x the strongest cluster.

    Sticks closer than ``merge`` cm^-1 to their neighbour in wavenumber form one cluster (one band an MD
    spectrum cannot resolve); its position is the intensity-weighted mean, its intensity the sum.
    """
    return [(c, t) for c, t, _ in _strong_clusters(nu, intensity, min_fraction, merge)]


def _strong_clusters(nu: np.ndarray, intensity: np.ndarray, min_fraction: float,
                     merge: float) -> list[tuple[float, float, list[int]]]:
    """:func:`strong_bands` with the indices (into the input arrays) of each cluster's sticks."""
    order = np.argsort(nu, kind="stable")
    nu, intensity = np.asarray(nu, float), np.asarray(intensity, float)
    clusters: list[list[int]] = []
    for i in order:
        if clusters and nu[i] - nu[clusters[-1][-1]] < merge:
            clusters[-1].append(int(i))
        else:
            clusters.append([int(i)])
    out = []
    for c in clusters:
        w = intensity[c]
        total = float(w.sum())
        centre = float((nu[c] * w).sum() / total) if total > 0 else float(nu[c].mean())
        out.append((centre, total, c))
    top = max((t for _, t, _ in out), default=0.0)
    return [(c, t, idx) for c, t, idx in out if top > 0 and t >= min_fraction * top]


def cluster_mode(labels: list[str], intensity: np.ndarray, members: list[int]) -> str:
    """Mode label of a band made of the sticks ``members``: the strongest stick's label, or the distinct
    labels of the two strongest sticks joined by " / " ("" when the sticks carry no labels)."""
    ranked = sorted(members, key=lambda i: -intensity[i])[:2]
    names = list(dict.fromkeys(labels[i] for i in ranked if labels[i]))
    return " / ".join(names)


MINOR_NEIGHBOURHOOD = 30.0  # cm^-1: a peak is minor against stronger peaks this close (see significant_peaks)


def significant_peaks(peaks: list[tuple[float, float]], minor_fraction: float = 0.25,
                      neighbourhood: float = MINOR_NEIGHBOURHOOD) -> list[tuple[float, float]]:
    """MD peaks (wavenumber cm^-1, height) without the minor ones: a peak lower than ``minor_fraction`` x the
    highest peak within ``neighbourhood`` cm^-1 of it is a ripple or side lobe of that band, not a band of its
    own (an isolated weak peak stays). Without this, a weak ripple nearer to the DFT band than the real MD peak
    would be matched and could turn a miss into a false "ok"."""
    nu = np.array([w for w, _ in peaks], float)
    h = np.array([x for _, x in peaks], float)
    keep = []
    for i in range(len(peaks)):
        local = h[np.abs(nu - nu[i]) <= neighbourhood].max()
        if h[i] >= minor_fraction * local:
            keep.append(peaks[i])
    return keep


def _nearest(x: float, candidates: list[float], window: float) -> int | None:
    if not candidates:
        return None
    d = np.abs(np.asarray(candidates) - x)
    k = int(np.argmin(d))
    return k if d[k] <= window else None


def band_table(dft_sticks: tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, list[str]],
               md_peaks: list[tuple[float, float]],
               bands: list[tuple[float, str]] | None = None,
               model_sticks: tuple[np.ndarray, np.ndarray] | None = None, min_fraction: float = 0.1,
               merge: float = 10.0, window: float = 80.0, xh_above: float = 2500.0,
               minor_fraction: float = 0.25) -> list[BandRow]:
    """Rows for the strong DFT bands (see module docstring); ``window``: largest distance of a match (cm^-1);
    ``minor_fraction``: MD peaks below this x a stronger peak within 30 cm^-1 are skipped (0 keeps all).
    ``dft_sticks``: (wavenumber, intensity) or (wavenumber, intensity, mode labels) as from
    :func:`read_labelled_sticks`."""
    nu_d, int_d = np.asarray(dft_sticks[0], float), np.asarray(dft_sticks[1], float)
    labels = list(dft_sticks[2]) if len(dft_sticks) > 2 else [""] * len(nu_d)
    strong = _strong_clusters(nu_d, int_d, min_fraction, merge)
    if not strong:
        raise DensnetError("the DFT stick spectrum has no band with positive intensity")
    # model bands: same clustering, a lower threshold so that a band the model makes weaker is still found
    model = [c for c, _ in strong_bands(*model_sticks, min_fraction=min_fraction / 4, merge=merge)] \
        if model_sticks is not None else []
    md_peaks = significant_peaks(md_peaks, minor_fraction)
    md_nu = [w for w, _ in md_peaks]
    exp_nu = [w for w, _ in bands or []]
    rows = []
    for nu, inten, members in strong:
        km = _nearest(nu, model, window)
        kd = _nearest(nu, md_nu, window)
        ke = _nearest(nu, exp_nu, window)
        rows.append(BandRow(
            dft=nu, dft_intensity=inten, model=None if km is None else model[km],
            md=None if kd is None else md_nu[kd], md_height=None if kd is None else md_peaks[kd][1],
            experiment=None if ke is None else exp_nu[ke], assignment="" if ke is None else bands[ke][1],
            xh_stretch=nu > xh_above, mode=cluster_mode(labels, int_d, members)))
    return rows


def _f(x: float | None, fmt: str = ".0f", signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x:+{fmt}}" if signed else f"{x:{fmt}}"


def format_markdown(rows: list[BandRow], tolerance: float, have_model: bool = True) -> str:
    """The table as Markdown, with a summary line of the verdicts; a "mode (DFT)" column after the
    experimental assignment when any row has a DFT mode label."""
    modes = any(r.mode for r in rows)
    lines = ["| assignment (experiment) | " + ("mode (DFT) | " if modes else "") + "experiment | DFT harmonic | "
             "I (km/mol) | densnet harmonic | densnet MD | MD - DFT | harmonic: densnet - DFT | experiment - DFT | "
             "verdict |",
             "|---|---|---|---|---|---|---|---|---|---|" + ("---|" if modes else "")]
    for r in rows:
        verdict = r.verdict(tolerance, have_model) + (" (X-H: harmonic)" if r.xh_stretch and have_model else "")
        mode = f" {r.mode or '-'} |" if modes else ""
        lines.append(
            f"| {r.assignment or '-'} |{mode} {_f(r.experiment)} | {r.dft:.0f} | {r.dft_intensity:.1f} | "
            f"{_f(r.model)} | {_f(r.md)} | {_f(r.deviation(r.md), signed=True)} | "
            f"{_f(r.deviation(r.model), signed=True)} | {_f(r.deviation(r.experiment), signed=True)} | {verdict} |")
    verdicts = [r.verdict(tolerance, have_model) for r in rows]
    n_ok, n_judged = verdicts.count("ok"), len(rows) - verdicts.count("not judged")
    lines.append("")
    if have_model:
        lines.append(f"{n_ok} of {n_judged} strong bands within {tolerance:g} cm^-1 (X-H stretches judged on "
                     "densnet's harmonic band; their MD red shift is anharmonicity).")
    else:
        lines.append(f"{n_ok} of {n_judged} strong bands below the X-H stretches within {tolerance:g} cm^-1; "
                     f"{len(rows) - n_judged} X-H stretch bands not judged (needs --model-sticks).")
    return "\n".join(lines)


def read_sticks(specs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Stick spectra ``FILE[:WEIGHT]`` (densnet harmonic CSVs) merged, intensities x weight (default 1): a
    conformer mixture, e.g. Boltzmann populations of trans and gauche ethanol."""
    nu, inten, _ = read_labelled_sticks(specs)
    return nu, inten


def read_labelled_sticks(specs: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """:func:`read_sticks` with the mode labels of the sticks ("" for two-column files)."""
    nus, ints, labels = [], [], []
    for spec in specs:
        path, _, weight = spec.rpartition(":") if not Path(spec).exists() and ":" in spec else (spec, "", "")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise DensnetError(f"{spec!r}: expected FILE or FILE:WEIGHT (a number)") from None
        if w < 0:
            raise DensnetError(f"{spec!r}: negative weight")
        nu, inten, lab = read_sticks_csv(path)
        nus.append(nu)
        ints.append(w * inten)
        labels += lab
    return np.concatenate(nus), np.concatenate(ints), labels


def read_peaks(path: str | Path) -> list[tuple[float, float]]:
    """Peak table of ``densnet ir --peaks`` (wavenumber, relative height)."""
    nu, h = read_csv_xy(path)
    return list(zip(nu.tolist(), h.tolist(), strict=True))


def command(dft_sticks: list[str], md_peaks: str, output: str | None, bands: str | None = None,
            model_sticks: list[str] | None = None, tolerance: float = 20.0, min_fraction: float = 0.1,
            merge: float = 10.0, window: float = 80.0, xh_above: float = 2500.0,
            minor_fraction: float = 0.25) -> list[BandRow]:
    """``densnet ir-table``: print the table, write it (Markdown) to ``output``; returns the rows.
    ``dft_sticks``/``model_sticks``: ``FILE[:WEIGHT]`` lists (see :func:`read_sticks`)."""
    rows = band_table(read_labelled_sticks(dft_sticks), read_peaks(md_peaks), read_bands(bands) if bands else None,
                      read_sticks(model_sticks) if model_sticks else None, min_fraction, merge, window, xh_above,
                      minor_fraction)
    dft_desc, model_desc = " + ".join(dft_sticks), " + ".join(model_sticks) if model_sticks else "-"
    head = (f"DFT harmonic: {dft_desc}; densnet MD peaks: {md_peaks}; densnet harmonic: {model_desc}; "
            f"experiment: {bands or '-'}. Strong bands: stick clusters (merged within {merge:g} cm^-1) with >= "
            f"{min_fraction:g} x the strongest intensity; matches within {window:g} cm^-1, skipping MD peaks below "
            f"{minor_fraction:g} x a higher peak within {MINOR_NEIGHBOURHOOD:g} cm^-1; cm^-1 throughout.")
    text = head + "\n\n" + format_markdown(rows, tolerance, model_sticks is not None) + "\n"
    print(text)
    if output:
        Path(output).write_text(text)
    return rows

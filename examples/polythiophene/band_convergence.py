"""Chain-length convergence of IR bands: the strong bands of a reference stick spectrum (densnet's harmonic
spectrum of 12T) and, per other spectrum, the nearest strong band (densnet ir-table's matching: stick clusters
merged within --merge cm^-1, matches within --window cm^-1). Mode labels are those of the reference's sticks
(``densnet harmonic``'s heuristic assignment). Run by make_band_convergence.sh:

    python band_convergence.py --reference "densnet 12T=ir/sticks_model_0.csv" \\
        "DFT 3T=data/harmonic/3T_dft_sticks.csv" \\
        ... -o ../../benchmarks/polythiophene_bands.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from densnet.bandtable import band_table, read_labelled_sticks


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spectra", nargs="+", metavar="NAME=STICKS.csv")
    p.add_argument("--reference", required=True, metavar="NAME=STICKS.csv")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--below", type=float, default=2000.0, help="only bands below this (cm^-1)")
    p.add_argument("--min-fraction", type=float, default=0.1, help="strong: intensity >= this x the strongest")
    p.add_argument("--merge", type=float, default=10.0)
    p.add_argument("--window", type=float, default=40.0, help="largest distance of a match (cm^-1)")
    p.add_argument("--made-by", default="examples/polythiophene/make_band_convergence.sh",
                   help="the script named in the report's header")
    p.add_argument("--title", default="Oligothiophene IR bands against chain length")
    a = p.parse_args()

    ref_name, _, ref_path = a.reference.partition("=")
    ref = read_labelled_sticks([ref_path])
    names, columns = [], []
    for spec in a.spectra:
        name, _, path = spec.partition("=")
        if not path:
            sys.exit(f"{spec!r}: expected NAME=STICKS.csv")
        rows = band_table(ref, [], model_sticks=read_labelled_sticks([path])[:2], min_fraction=a.min_fraction,
                          merge=a.merge, window=a.window)
        names.append(name)
        columns.append([r.model for r in rows])
    rows = band_table(ref, [], min_fraction=a.min_fraction, merge=a.merge, window=a.window)
    keep = [k for k, r in enumerate(rows) if r.dft < a.below]
    head = "| mode | " + f"{ref_name} | I (km/mol) | " + " | ".join(names) + " |"
    lines = [head, "|" + "---|" * (3 + len(names))]
    for k in keep:
        r = rows[k]
        cells = ["-" if c[k] is None else f"{c[k]:.0f}" for c in columns]
        lines.append(f"| {r.mode or '-'} | {r.dft:.0f} | {r.dft_intensity:.1f} | " + " | ".join(cells) + " |")
    cmd = "python " + " ".join([Path(sys.argv[0]).name, *(f'"{x}"' if " " in x else x for x in sys.argv[1:])])
    text = (f"# {a.title}\n\nMade by `{a.made_by}` (`{cmd}`).\n\n"
            f"Rows: the strong bands (>= {a.min_fraction:g} x the strongest, stick clusters merged within "
            f"{a.merge:g} cm^-1) of {ref_name} ({ref_path}) below {a.below:g} cm^-1, with the mode label of their "
            f"strongest sticks; columns: the nearest band of each spectrum (clusters >= {a.min_fraction / 4:g} x its "
            f"strongest) within {a.window:g} cm^-1 ('-': none). Wavenumbers in cm^-1.\n\n" + "\n".join(lines) + "\n")
    Path(a.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()

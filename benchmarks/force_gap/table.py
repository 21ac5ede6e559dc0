"""Validation force MAE (meV/A) by energy-stage epoch of the force-gap studies, as a Markdown table.

Reads the shipped model's log (examples/ethanol/model/log.csv), benchmarks/force_gap/*_log.csv (copies of
each study's runs/force_gap/<name>/log.csv, made by `densnet train benchmarks/force_gap/<name>.yaml`) and the
MACE run's log of benchmarks/accuracy.py (same split and epochs).
    python benchmarks/force_gap/table.py [--epochs 10,30,50,70]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = {
    "shipped model (density input, cutoff 4 A)": HERE.parents[1] / "examples/ethanol/model/log.csv",
    "energy_wide: 4x wider, force weight 100": HERE / "energy_wide_log.csv",
    "energy_radial: radial MLP 16 -> 64": HERE / "energy_radial_log.csv",
    "energy_product: + ProductBlock, correlation 3": HERE / "energy_product_log.csv",
    "energy_elements: no density input (plain potential)": HERE / "energy_elements_log.csv",
    "energy_elements_c5: no density input, cutoff 5 A": HERE / "energy_elements_c5_log.csv",
    "energy_elements_norm: no density input, mlp_init normalized": HERE / "energy_elements_norm_log.csv",
    "energy_elements_lr2e-3: no density input, lr 2e-3": HERE / "energy_elements_lr2e-3_log.csv",
    "energy_elements_lr3e-2: no density input, lr 3e-2": HERE / "energy_elements_lr3e-2_log.csv",
    "energy_elements_lmax3: no density input, l <= 3": HERE / "energy_elements_lmax3_log.csv",
    "energy_elements_l3layers: no density input, 3 energy layers": HERE / "energy_elements_l3layers_log.csv",
    "energy_elements_l4layers: no density input, 4 energy layers": HERE / "energy_elements_l4layers_log.csv",
    "energy_elements_all: no density input, cutoff 5 + radial 64 + correlation 3": HERE / "energy_elements_all_log.csv",
    "model_etb (even-tempered-1.7, MD + distorted frames)": HERE.parents[1] / "examples/ethanol/model_etb/log.csv",
    "model_deep: model_etb's density net, 3 layers + radial 64 + correlation 3": HERE / "deep_log.csv",
    "model_deep + close-contact frames (weight 0.1)": HERE / "deep_close_log.csv",
    "residual_etb: model_etb's density net, 3 residual energy layers": HERE / "residual_etb_log.csv",
}


def force_mae(path: Path) -> dict[int, float]:
    """{energy-stage epoch: validation force MAE in meV/A}."""
    with open(path) as fh:
        return {int(r["epoch"]): 1000 * float(r["val_f_mae"]) for r in csv.DictReader(fh) if r["stage"] == "energy"}


MACE_LOG = HERE.parent / "accuracy_work/ethanol/mace/logs/mace_run-0.log"  # benchmarks/accuracy.py's MACE run


def mace_force_mae(path: Path) -> dict[int, float]:
    """{epoch: validation force MAE in meV/A} from mace_run_train's log ("Epoch N: ... MAE_F= x meV / A")."""
    out: dict[int, float] = {}
    for line in path.read_text().splitlines():
        if "INFO: Epoch " in line and "MAE_F=" in line:
            epoch = int(line.split("INFO: Epoch ")[1].split(":")[0])
            out.setdefault(epoch, float(line.split("MAE_F=")[1].split()[0]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", default="5,10,20,30,50,70")
    epochs = [int(e) for e in ap.parse_args().epochs.split(",")]
    print("| run | " + " | ".join(f"epoch {e}" for e in epochs) + " |")
    print("|---|" + "---|" * len(epochs))
    for name, path in RUNS.items():
        f = force_mae(path)
        print(f"| {name} | " + " | ".join(f"{f[e]:.1f}" if e in f else "-" for e in epochs) + " |")
    f = mace_force_mae(MACE_LOG)
    # MACE logs "Epoch 0" after its first epoch (densnet: epoch 1): compared after the same number of epochs
    cells = [f"{f[e - 1]:.1f}" if e - 1 in f else "-" for e in epochs]
    print("| MACE (benchmarks/accuracy_ethanol.md) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

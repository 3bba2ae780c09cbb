#!/usr/bin/env python3
"""Fetch pinned, checksummed third-party *headers* the plugin libraries compile against.

Nothing fetched here is committed: it lands under ``.deps/`` (git-ignored).

* ``tensorrt``: TensorRT 10.14 public headers, carried by the PyPI wheel
  ``kernel-lens==2.0.1`` under ``kernel_lens/include/tensorrt/`` (downloaded with pip,
  never imported or installed).
* ``onnxruntime``: ONNX Runtime 1.21 C/C++ headers from Debian trixie's
  ``libonnxruntime-dev`` package, downloaded with a private apt configuration (the
  machine's own Debian mirror, suite ``trixie``) and unpacked with ``dpkg -x``; never
  installed.

Usage: ``python cmake/fetch_headers.py {tensorrt|onnxruntime} DEST`` prints the include
directory on success. Re-running with a complete DEST does nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

TENSORRT_WHEEL = ("kernel-lens==2.0.1", "kernel_lens-2.0.1-py3-none-any.whl",
                  "07cc714e8b5e7f34b672f7c7fad93febe7c747be5837ba276b1527370134ffe0")
ORT_DEB = ("libonnxruntime-dev=1.21.0+dfsg-1", "libonnxruntime-dev_1.21.0+dfsg-1_amd64.deb",
           "14f7d959d5deacbcf1504830d4189f91fc67382b399ed9ae9d3aa9c4050ced08")
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")


def _verify(path: Path, sha256: str) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        sys.exit(f"fetch_headers: checksum mismatch for {path.name}: {digest} != {sha256}")


def _run_pip(args: list[str]) -> None:
    """Run pip for this interpreter, else the first pip on PATH. Inside pip's isolated
    build environment (``pip install .``) the build interpreter cannot import pip, and
    the overlay PYTHONPATH that hides site-packages must not reach the outer pip."""
    if importlib.util.find_spec("pip") is not None:
        subprocess.run([sys.executable, "-m", "pip", *args], check=True)
        return
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONNOUSERSITE")}
    for name in ("pip3", "pip"):
        found = shutil.which(name)
        if found:
            subprocess.run([found, *args], check=True, env=env)
            return
    sys.exit("fetch_headers: no pip found to download the TensorRT headers")


def fetch_tensorrt(dest: Path) -> Path:
    include = dest / "include"
    if (include / "NvInfer.h").is_file():
        return include
    spec, wheel_name, sha256 = TENSORRT_WHEEL
    with tempfile.TemporaryDirectory() as tmp:
        _run_pip(["download", "--quiet", "--no-deps", "--only-binary=:all:", spec, "-d", tmp])
        wheel = Path(tmp) / wheel_name
        _verify(wheel, sha256)
        prefix = "kernel_lens/include/tensorrt/"
        include.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                if name.startswith(prefix) and not name.endswith("/"):
                    (include / name[len(prefix):]).write_bytes(zf.read(name))
    return include


def _debian_mirror() -> str:
    for line in DEBIAN_SOURCES.read_text().splitlines():
        if line.startswith("URIs:"):
            return line.split()[1]
    sys.exit(f"fetch_headers: no 'URIs:' entry in {DEBIAN_SOURCES}")


def fetch_onnxruntime(dest: Path) -> Path:
    include = dest / "usr" / "include" / "onnxruntime"
    if (include / "onnxruntime_cxx_api.h").is_file():
        return include
    spec, deb_name, sha256 = ORT_DEB
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for sub in ("lists/partial", "cache/archives/partial", "etc/parts"):
            (root / sub).mkdir(parents=True)
        keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
        (root / "etc/sources.list").write_text(
            f"deb [signed-by={keyring}] {_debian_mirror()} trixie main\n")
        conf = root / "apt.conf"
        conf.write_text("\n".join([
            f'Dir::Etc::SourceList "{root}/etc/sources.list";',
            f'Dir::Etc::SourceParts "{root}/etc/parts";',
            f'Dir::State "{root}";',
            f'Dir::State::Lists "{root}/lists";',
            f'Dir::Cache "{root}/cache";',
            'APT::Sandbox::User "root";', ""]))
        env = {"APT_CONFIG": str(conf), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
        subprocess.run(["apt-get", "-qq", "update"], check=True, env=env, cwd=root)
        subprocess.run(["apt-get", "-qq", "download", spec], check=True, env=env, cwd=root)
        deb = root / deb_name
        _verify(deb, sha256)
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
    return include


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1] not in ("tensorrt", "onnxruntime"):
        sys.exit(__doc__)
    fetch = fetch_tensorrt if sys.argv[1] == "tensorrt" else fetch_onnxruntime
    print(fetch(Path(sys.argv[2]).resolve()))


if __name__ == "__main__":
    main()

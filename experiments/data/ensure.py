"""``python -m experiments.data.ensure [--root DIR]``: make sure the default data set is present.

Looks where ``build_data`` looks; when the files are missing and this runs as root
on a Debian/Ubuntu system, installs the ``dataset-fashion-mnist`` package
(offline mirrors suffice) and looks again. Exits non-zero with the searched
places and the ways to get the data when it still cannot find them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from experiments.data import fashion_mnist_files as files

_APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def _run(cmd: list[str]) -> bool:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, env=_APT_ENV, check=False).returncode == 0


def _apt_knows(package: str) -> bool:
    """Whether apt has an installation candidate, i.e. whether ``apt-get update`` can be skipped."""
    out = subprocess.run(
        ["apt-cache", "policy", package], env=_APT_ENV, capture_output=True, text=True, check=False
    ).stdout
    return "Candidate:" in out and "Candidate: (none)" not in out


def apt_install(run: Callable[[list[str]], bool] = _run, knows: Callable[[str], bool] = _apt_knows) -> bool:
    """Install the Debian package; ``False`` when that is impossible here (not root, no apt) or fails."""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return False
    if not knows(files.DEBIAN_PACKAGE) and not run(["apt-get", "update"]):
        return False
    return run(["apt-get", "install", "-y", "--no-install-recommends", files.DEBIAN_PACKAGE])


def ensure(root: str | Path | None = None, install: Callable[[], bool] | None = None) -> Path:
    """The directory holding Fashion-MNIST, installing it first (``install``, apt by default) if needed."""
    try:
        return files.locate(root)
    except files.FashionMNISTNotFoundError:
        print(f"Fashion-MNIST not found; trying to install the {files.DEBIAN_PACKAGE} package", flush=True)
        (install or apt_install)()
    return files.locate(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="directory to search first (like data.root)")
    args = parser.parse_args(argv)
    try:
        directory = ensure(args.root)
    except files.FashionMNISTNotFoundError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"Fashion-MNIST found in {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

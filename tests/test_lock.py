"""requirements.lock pins the whole environment: it covers pyproject.toml's ranges and is what is installed."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line.strip())
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = [Requirement(r) for r in project["project"]["dependencies"]]
    reqs += [Requirement(r) for extra in project["project"]["optional-dependencies"].values() for r in extra]
    reqs += [Requirement(r) for r in project["build-system"]["requires"]]
    return [r for r in reqs if canonicalize_name(r.name) != "slimlab"]


def test_every_declared_dependency_is_pinned_within_its_range():
    pins = _pins()
    assert len(pins) > 50, "requirements.lock looks empty or unparsable"
    for req in _declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is declared in pyproject.toml but not pinned in requirements.lock: make lock"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {req.name}=={pins[name]}, outside pyproject.toml's '{req}': make lock")


def test_the_environment_is_the_locked_one():
    """Every installed distribution the lock names has the locked version (the install used the lock)."""
    pins = _pins()
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    drift = {name: (installed[name], pin) for name, pin in pins.items() if name in installed and installed[name] != pin}
    assert not drift, f"installed versions differ from requirements.lock (installed, locked): {drift}"
    for core in ("torch", "torchvision", "timm", "onnx", "onnxruntime", "numpy"):
        assert core in installed and core in pins, core

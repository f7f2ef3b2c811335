"""The lock (constraints.txt) pins every package that setup.cfg asks for, at a version setup.cfg admits.

tools/update-lock.sh regenerates the lock; this test is what fails when someone edits setup.cfg and
forgets to, or edits the lock by hand into a version setup.cfg refuses.
"""

from __future__ import annotations

import configparser
import sys
from pathlib import Path

import pytest

packaging = pytest.importorskip("packaging")
from packaging.markers import Marker  # noqa: E402
from packaging.requirements import Requirement  # noqa: E402
from packaging.utils import canonicalize_name  # noqa: E402
from packaging.version import Version  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


def setup_cfg_requirements(path: Path = ROOT / "setup.cfg") -> list[tuple[str, Requirement]]:
    """(where, requirement) for install_requires and every extra of setup.cfg."""
    cfg = configparser.ConfigParser()
    cfg.read(path)
    found = [("install_requires", line) for line in cfg["options"]["install_requires"].splitlines()]
    for extra, text in cfg["options.extras_require"].items():
        found += [(f"[{extra}]", line) for line in text.splitlines()]
    return [(where, Requirement(line.strip())) for where, line in found if line.strip()]


def lock_pins(path: Path = ROOT / "constraints.txt") -> dict[str, list[tuple[Version, Marker | None]]]:
    """Package name -> [(pinned version, marker or None)] from a pip constraints file."""
    pins: dict[str, list[tuple[Version, Marker | None]]] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"the lock must pin with ==: {raw!r}"
        pins.setdefault(canonicalize_name(req.name), []).append((Version(spec.version), req.marker))
    return pins


def pinned_for(pins, name: str, python: str) -> Version | None:
    env = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux",
           "platform_machine": "x86_64", "platform_system": "Linux", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "os_name": "posix"}
    for version, marker in pins.get(canonicalize_name(name), []):
        if marker is None or marker.evaluate(env):
            return version
    return None


def test_lock_pins_every_requirement_of_setup_cfg_within_its_bounds():
    pins = lock_pins()
    problems = []
    for where, req in setup_cfg_requirements():
        for python in PYTHONS:
            version = pinned_for(pins, req.name, python)
            if version is None:
                problems.append(f"{req.name} ({where}) is not pinned for Python {python}")
            elif not req.specifier.contains(version, prereleases=True):
                problems.append(f"{req.name}=={version} (Python {python}) is outside {where}'s {req}")
    assert not problems, "constraints.txt disagrees with setup.cfg; run: bash tools/update-lock.sh\n" + "\n".join(
        sorted(set(problems))
    )


def test_the_running_environment_matches_the_lock_for_what_setup_cfg_names():
    """The suite runs against the locked versions (as CI installs them), not whatever is around."""
    from importlib import metadata

    pins = lock_pins()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    drift = []
    for _, req in setup_cfg_requirements():
        try:
            installed = Version(metadata.version(req.name))
        except metadata.PackageNotFoundError:
            continue
        locked = pinned_for(pins, req.name, python)
        if locked is not None and installed.public != locked.public:
            drift.append(f"{req.name}: installed {installed}, locked {locked}")
    if drift and not _installed_through_lock():
        pytest.skip("not installed through the lock: " + "; ".join(drift[:5]))
    assert not drift, "installed versions differ from constraints.txt:\n" + "\n".join(drift)


def _installed_through_lock() -> bool:
    import os

    return os.environ.get("EMOTIONLAYER_LOCKED_INSTALL") == "1"


def test_lock_checker_catches_a_version_outside_the_bounds(tmp_path):
    cfg = tmp_path / "setup.cfg"
    cfg.write_text("[options]\ninstall_requires =\n    numpy>=1.24,<2\n[options.extras_require]\nx = \n")
    lock = tmp_path / "constraints.txt"
    lock.write_text("numpy==2.4.0\n")
    (where, req), = setup_cfg_requirements(cfg)
    version = pinned_for(lock_pins(lock), req.name, "3.11")
    assert version == Version("2.4.0") and not req.specifier.contains(version)
    lock.write_text("numpy==1.26.4 ; python_full_version < '3.11'\n")
    assert pinned_for(lock_pins(lock), "numpy", "3.11") is None
    assert pinned_for(lock_pins(lock), "NumPy", "3.10") == Version("1.26.4")

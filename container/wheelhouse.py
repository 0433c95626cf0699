"""The runtime locks (`name==version --hash=sha256:...`) and the wheelhouse that satisfies them.

The build installs offline with --require-hashes, so every wheel a lock names must be on disk first;
missing ones are downloaded for the image's platform (as scripts/wheelhouse.sh does).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from container.build_errors import BuildError, Progress, quiet
from model.bundle import sha256_file

# The platform the image runs (scripts/pip-target.sh holds the same flags for the shell scripts).
_PIP_TARGET = ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
               "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
               "--platform", "manylinux2014_x86_64", "--platform", "any"]


@dataclass(frozen=True)
class Pin:
    name: str  # normalized (PEP 503)
    version: str
    hashes: frozenset[str]


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> list[Pin]:
    """`name==version --hash=sha256:...` entries of a pip requirements file (continuations joined)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins: list[Pin] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        hashes = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
        if not m or not hashes:
            raise BuildError(f"{path}: every entry must be `name==version --hash=sha256:...`, got {line!r}")
        pins.append(Pin(_normalize(m[1]), m[2], hashes))
    return pins


def _match_wheels(wheelhouse: Path, pins: list[Pin]) -> tuple[list[Path], list[Pin]]:
    by_key: dict[tuple[str, str], list[Path]] = {}
    for whl in sorted(wheelhouse.glob("*.whl")):
        name, version = whl.name.split("-")[:2]
        by_key.setdefault((_normalize(name), version), []).append(whl)
    found: list[Path] = []
    missing: list[Pin] = []
    for pin in pins:
        candidates = by_key.get((pin.name, pin.version), [])
        hit = next((w for w in candidates if sha256_file(w) in pin.hashes), None)
        if hit is None:
            missing.append(pin)
        else:
            found.append(hit)
    return found, missing


def ensure_wheelhouse(wheelhouse: Path, locks: list[Path], progress: Progress = quiet) -> list[Path]:
    """The wheel files the locks name, downloading missing ones from PyPI (as scripts/wheelhouse.sh)."""
    pins = [pin for lock in locks for pin in read_lock(lock)]
    wheelhouse.mkdir(parents=True, exist_ok=True)
    found, missing = _match_wheels(wheelhouse, pins)
    if missing:
        progress(f"wheelhouse {wheelhouse}: downloading {len(missing)} wheels")
        for lock in locks:
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--require-hashes",
                   *_PIP_TARGET, "-d", str(wheelhouse), "-r", str(lock)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
            if proc.returncode != 0:
                raise BuildError(
                    f"could not fill the wheelhouse {wheelhouse} from {lock.name}: "
                    f"{proc.stderr.strip()[-800:]}\nRun scripts/wheelhouse.sh where PyPI is reachable."
                )
        found, missing = _match_wheels(wheelhouse, pins)
        if missing:
            names = ", ".join(f"{p.name}=={p.version}" for p in missing)
            raise BuildError(f"wheelhouse {wheelhouse} lacks wheels matching the lock hashes: {names}")
    return found

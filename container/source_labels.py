"""The image's version, revision and source labels, read from the installed package and the git checkout.

The revision is the last commit that changed what goes into the image, so the label (and with it the
content tag) changes only when the image does.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
from pathlib import Path

from container.build_context import CONTEXT_PATHS


def package_version() -> str:
    """The installed modelstage version; "0+unknown" from a bare checkout."""
    try:
        return importlib.metadata.version("modelstage")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _git(source_root: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(source_root), *args], capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def source_revision(source_root: Path) -> str:
    """The last commit that changed what goes into the image (so it changes only when the image
    does), with "-dirty" when those files have uncommitted changes; "" outside a git checkout."""
    commit = _git(source_root, "log", "-1", "--format=%H", "--", *CONTEXT_PATHS)
    if commit and _git(source_root, "status", "--porcelain", "--", *CONTEXT_PATHS):
        commit += "-dirty"
    return commit


def source_url(source_root: Path) -> str:
    """The checkout's origin, without any credentials embedded in it; "" when there is none."""
    url = _git(source_root, "config", "--get", "remote.origin.url")
    return re.sub(r"^(\w+://)[^/@]+@", r"\1", url)

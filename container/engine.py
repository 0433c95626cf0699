"""Where the Docker engine is: DOCKER_HOST, else the one `scripts/engine.sh` started, else Docker's default.

`scripts/engine.sh` writes `$MODELSTAGE_ENGINE_DIR/env` (default /var/tmp/modelstage-engine/env) with
`export DOCKER_HOST=...` lines; reading it here means a shell that never sourced it still finds the engine.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from model.errors import ModelstageError

DEFAULT_ENGINE_DIR = Path("/var/tmp/modelstage-engine")
ENGINE_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "engine.sh"


def engine_dir() -> Path:
    return Path(os.environ.get("MODELSTAGE_ENGINE_DIR") or DEFAULT_ENGINE_DIR)


def read_env_file(path: Path) -> dict[str, str]:
    """`export KEY=VALUE` (or `KEY=VALUE`) lines; anything else is ignored. Missing file: empty."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip().removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if sep and key.isidentifier():
            out[key] = value.strip().strip("'\"")
    return out


def engine_environment() -> dict[str, str]:
    """The process environment, completed (never overridden) by the engine's env file."""
    env = dict(os.environ)
    for key, value in read_env_file(engine_dir() / "env").items():
        env.setdefault(key, value)
    return env


def start_engine(script: Path = ENGINE_SCRIPT, timeout: float = 900) -> dict[str, str]:
    """Run `scripts/engine.sh` (idempotent; installs packages and builds the base image on first use)
    and return the variables of its env file. Raises ModelstageError with the script's output tail."""
    if not script.is_file():
        raise ModelstageError(f"{script} not found: start a Docker engine yourself and set DOCKER_HOST")
    try:
        proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise ModelstageError(f"{script} did not finish within {timeout:.0f} s") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-15:])
        raise ModelstageError(f"{script} failed (exit {proc.returncode}):\n{tail}")
    return read_env_file(engine_dir() / "env")

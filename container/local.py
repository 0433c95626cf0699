"""Running the runtime locally: as a plain process, or as a container started the way a cloud does.

Shared by `modelstage serve`, `modelstage local` and the README's main command. Ports are bound
on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.errors import ModelstageError


class LocalRunError(ModelstageError):
    """The local server did not come up, or answered wrongly."""


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(url: str, body: bytes | None = None, content_type: str = "application/json",
            accept: str | None = None, timeout: float = 10.0, method: str | None = None) -> HttpResult:
    headers = {"Content-Type": content_type} if body is not None else {}
    if accept:
        headers["Accept"] = accept
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return HttpResult(resp.status, resp.read(), time.perf_counter() - started)
    except urllib.error.HTTPError as exc:
        return HttpResult(exc.code, exc.read(), time.perf_counter() - started)


def wait_healthy(url: str, timeout: float, is_alive: Any = None) -> float:
    """Poll `url` until it answers 200; returns the seconds it took. Bounded by `timeout`."""
    started = time.perf_counter()
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if is_alive is not None and not is_alive():
            raise LocalRunError(f"the server exited before {url} answered 200")
        try:
            if request(url, timeout=2.0).status == 200:
                return time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.02)
    raise LocalRunError(f"{url} did not answer 200 within {timeout:.0f} s")


class ServerProcess:
    """`python -m container.runtime` as a child process, stopped by its PID with SIGTERM."""

    def __init__(self, bundle: Path | None, port: int, host: str = "127.0.0.1", workers: int = 1,
                 env: dict[str, str] | None = None, log_file: Path | None = None) -> None:
        """`bundle` None: the runtime finds the model itself, as in a cloud (e.g. from AIP_STORAGE_URI)."""
        self.url = f"http://{host}:{port}"
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("MODEL_DIR", "AIP_HTTP_PORT", "SAGEMAKER_BIND_TO_PORT")}
        full_env.update({"MODELSTAGE_HOST": host, "PORT": str(port), "MODELSTAGE_WORKERS": str(workers)})
        if bundle is not None:
            full_env["MODEL_DIR"] = str(bundle)
        full_env.update(env or {})
        self.log_file = log_file
        out = log_file.open("ab") if log_file else subprocess.DEVNULL
        self.proc = subprocess.Popen([sys.executable, "-m", "container.runtime", "serve"], env=full_env,
                                     stdout=out, stderr=out, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_healthy(self, timeout: float = 30.0) -> float:
        return wait_healthy(f"{self.url}/ping", timeout, self.alive)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return int(self.proc.returncode)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

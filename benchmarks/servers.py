"""Starting server processes in their own process group, waiting for health, peak RSS, stopping."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _status(url: str, timeout: float) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return 0


def wait_ready(server: Server, path: str, timeout_s: float) -> float:
    """Poll `path` until 200; return the seconds it took. Raises if the process dies or time runs out."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}")
        if _status(server.base + path, timeout=2.0) == 200:
            return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError(f"{server.name} not ready on {path} after {timeout_s:.0f} s:\n{server.log_tail()}")


def stop(server: Server, grace_s: float = 10.0) -> None:
    """SIGTERM the server's own process group (it was started as a session leader), then SIGKILL."""
    pgid = server.proc.pid  # start_new_session=True: the group id is the leader's pid
    if server.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            server.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            server.proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):  # workers left behind by a leader that already exited
        os.killpg(pgid, signal.SIGKILL)


@contextlib.contextmanager
def running(name: str, cmd: Sequence[str], env: Mapping[str, str], port: int, log_dir: Path,
            cwd: Path | None = None) -> Iterator[Server]:
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(list(cmd), env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(name, proc, port, log)
    try:
        yield server
    finally:
        stop(server)


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:  # field 4 of /proc/PID/stat: the parent's pid
            out.append(int(entry.name))
    return out


def process_tree(pid: int) -> list[int]:
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(_children(current))
    return tree


def proc_status_bytes(pid: int, key: str) -> int:
    """A /proc/PID/status memory field in bytes (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def peak_rss(pid: int) -> dict[int, int]:
    """VmHWM (peak resident set) in bytes of `pid` and every descendant, by pid."""
    return {p: proc_status_bytes(p, "VmHWM") for p in process_tree(pid)}

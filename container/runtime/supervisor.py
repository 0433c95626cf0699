"""Worker processes over one listening socket (MODELSTAGE_WORKERS > 1).

The supervisor binds, starts each worker as `python -m container.runtime serve` with the socket's
descriptor in MODELSTAGE_LISTEN_FD, and restarts a worker that dies. On SIGTERM it closes its own
copy of the socket, forwards the signal, and waits: each worker drains its own connections and the
backlog, so a connection is never left in a queue nobody accepts from.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from types import FrameType

log = logging.getLogger("modelstage.runtime")
POLL_S = 0.2
RESTARTS = 5  # in RESTART_WINDOW_S; more means the workers cannot stay up: stop the container
RESTART_WINDOW_S = 60.0
_WORKER_MODEL_FAILED = 3


class Supervisor:
    def __init__(self, sock: socket.socket, workers: int, env: dict[str, str], graceful_timeout: float) -> None:
        self.sock = sock
        self.count = workers
        self.env = env
        self.graceful_timeout = graceful_timeout
        self.workers: list[subprocess.Popen[bytes]] = []
        self.restarts: deque[float] = deque()
        self.stopping = False

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "container.runtime", "serve"], env=self.env,
                                pass_fds=(self.sock.fileno(),))

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self.workers = [self._spawn() for _ in range(self.count)]
        log.info("supervisor: %d workers on %s:%d", self.count, *self.sock.getsockname()[:2])
        code = 0
        while not self.stopping:
            time.sleep(POLL_S)
            code = self._replace_dead()
            if code:
                break
        return self._stop(code)

    def _replace_dead(self) -> int:
        for i, proc in enumerate(self.workers):
            status = proc.poll()
            if status is None or self.stopping:
                continue
            if status == _WORKER_MODEL_FAILED:
                log.error("worker %d could not load the model; stopping", proc.pid)
                return 2
            now = time.monotonic()
            while self.restarts and now - self.restarts[0] > RESTART_WINDOW_S:
                self.restarts.popleft()
            if len(self.restarts) >= RESTARTS:
                log.error("workers died %d times in %.0f s; stopping", len(self.restarts) + 1, RESTART_WINDOW_S)
                return 1
            self.restarts.append(now)
            log.warning("worker %d exited with %d; starting another", proc.pid, status)
            self.workers[i] = self._spawn()
        return 0

    def _stop(self, code: int) -> int:
        self.sock.close()  # the workers hold their own copies until they have drained the backlog
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.graceful_timeout + 2
        for proc in self.workers:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %d did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.wait(5)
        if code == 0 and any(p.returncode not in (0, -signal.SIGTERM) for p in self.workers):
            code = 1
        return code

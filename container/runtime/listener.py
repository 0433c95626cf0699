"""The listening socket of one worker: the connection cap, the deadline sweeper, the SIGTERM drain.

The cap keeps file descriptors for the process itself: at the cap the connection idle the longest
makes room for a new one, so idle clients can never lock out a well-behaved one. On SIGTERM the
listener accepts what is already in the kernel's backlog (those clients have sent their requests),
stops listening, lets every connection finish, and returns within the graceful timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket

from container.runtime.app import ServingApp
from container.runtime.connection import HttpConnection

log = logging.getLogger("modelstage.runtime")
SWEEP_S = 0.25
FD_RESERVE = 64  # descriptors kept for the model, threads, logs and the bundle's files
_BACKLOG_ACCEPTS = 10_000  # bound on the connections taken from the backlog at SIGTERM


def connection_cap(requested: int) -> int:
    """`requested`, lowered to what the file-descriptor limit allows (raising the soft limit first)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = requested + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    if soft == resource.RLIM_INFINITY:
        return requested
    cap = max(1, min(requested, soft - FD_RESERVE))
    if cap < requested:
        log.warning("MODELSTAGE_MAX_CONNECTIONS=%d lowered to %d: the file-descriptor limit is %d",
                    requested, cap, soft)
    return cap


class Listener:
    def __init__(self, app: ServingApp, sock: socket.socket, graceful_timeout: float) -> None:
        self.app = app
        self.sock = sock
        self.graceful_timeout = graceful_timeout
        self.loop = asyncio.get_running_loop()
        self.cap = connection_cap(app.limits.max_connections)
        self.connections: dict[HttpConnection, None] = {}  # insertion order: oldest first
        self.draining = False
        self.upload_deadline = 0.0
        self._server: asyncio.Server | None = None
        self._spare: socket.socket | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None

    # -- connections -------------------------------------------------------------------------------
    def admit(self, conn: HttpConnection) -> bool:
        if len(self.connections) >= self.cap:
            victim = min((c for c in self.connections if c.idle()), key=lambda c: c.idle_since, default=None)
            if victim is None:
                return False
            victim.abort()
            self.connections.pop(victim, None)
        self.connections[conn] = None
        return True

    def forget(self, conn: HttpConnection) -> None:
        self.connections.pop(conn, None)
        if self.draining and not self.connections:
            self._stopped.set()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            now = self.loop.time()
            for conn in list(self.connections):
                conn.check(now)

    # -- life cycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        self._spare = self.sock.dup()  # keeps the backlog alive after the server closes its copy
        self._server = await self.loop.create_server(lambda: HttpConnection(self), sock=self.sock)
        self._sweeper = asyncio.create_task(self._sweep())

    async def serve_until_drained(self) -> None:
        await self._stopped.wait()

    def stop(self) -> None:
        """SIGTERM: begin the drain (idempotent). serve_until_drained returns when it is over."""
        if self.draining:
            return
        self.draining = True
        self.upload_deadline = self.loop.time() + self.app.limits.upload_grace
        self._drainer = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._accept_backlog()
        for conn in list(self.connections):
            conn.drain()
        if not self.connections:
            self._stopped.set()
        try:
            await asyncio.wait_for(self._stopped.wait(), self.graceful_timeout)
        except TimeoutError:
            log.warning("graceful timeout: closing %d connection(s) still open", len(self.connections))
            for conn in list(self.connections):
                conn.abort()
            self._stopped.set()
        if self._sweeper is not None:
            self._sweeper.cancel()

    async def _accept_backlog(self) -> None:
        spare = self._spare
        if spare is None:
            return
        spare.setblocking(False)
        try:
            for _ in range(_BACKLOG_ACCEPTS):
                try:
                    client, _addr = spare.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    log.warning("accepting the backlog at shutdown: %s", exc)
                    break
                client.setblocking(False)
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    await self.loop.connect_accepted_socket(lambda: HttpConnection(self), client)
                except OSError:
                    client.close()
        finally:
            spare.close()

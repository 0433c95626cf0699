"""Drive SIGTERM drain tests deterministically: requests whose bodies are only half sent are in
flight for as long as the test wants; the rest of each body goes out after the SIGTERM."""

from __future__ import annotations

import json
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from container.local import request

_IN_FLIGHT = re.compile(rb"^modelstage_requests_in_flight (\d+)$", re.M)
_BODY = json.dumps({"instances": [[1200 + i, 3, 2] for i in range(200)]}).encode()


@dataclass
class HalfSent:
    sock: socket.socket
    rest: bytes

    def finish(self, timeout: float = 30.0) -> int:
        """Send the rest of the body and return the response's status code."""
        self.sock.settimeout(timeout)
        self.sock.sendall(self.rest)
        data = b""
        while b"\r\n" not in data:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed before a status line; got {data!r}")
            data += chunk
        self.sock.close()
        return int(data.split(b" ", 2)[1])


def start_half_sent(url: str, n: int) -> list[HalfSent]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = (f"POST /invocations HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(_BODY)}\r\n\r\n").encode()
    half = len(_BODY) // 2
    out = []
    for _ in range(n):
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(head + _BODY[:half])
        out.append(HalfSent(sock, _BODY[half:]))
    return out


def wait_in_flight(url: str, n: int, timeout: float = 10.0) -> int:
    """Poll /metrics until at least `n` requests (besides the poll itself) are in flight."""
    deadline = time.perf_counter() + timeout
    seen = 0
    while time.perf_counter() < deadline:
        match = _IN_FLIGHT.search(request(f"{url}/metrics", timeout=5).body)
        seen = int(match.group(1)) - 1 if match else 0
        if seen >= n:
            return seen
        time.sleep(0.01)
    raise AssertionError(f"only {seen} of {n} requests were in flight after {timeout} s")

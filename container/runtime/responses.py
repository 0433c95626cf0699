"""HTTP/1.1 response bytes: status line, the headers every response carries, the body.

Written by hand because the server writes straight to the transport; one bytes join per response
keeps the 1-row path short.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from email.utils import formatdate
from http import HTTPStatus

Header = tuple[bytes, bytes]

_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _Date:
    """The Date header, formatted once per second rather than per response."""

    def __init__(self) -> None:
        self.second = 0
        self.line = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.line = b"date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
        return self.line


_date = _Date()


def status_line(status: int) -> bytes:
    return _STATUS_LINES.get(status) or f"HTTP/1.1 {status} Unknown\r\n".encode()


def encode_response(status: int, content_type: str, body: bytes, headers: Sequence[Header] = (), *,
                    close: bool = False, keep_alive_1_0: bool = False, head_only: bool = False) -> bytes:
    """The whole response. `head_only` for HEAD requests: the same headers, no body."""
    parts = [status_line(status), b"content-type: ", content_type.encode("latin-1"),
             b"\r\ncontent-length: ", str(len(body)).encode(), b"\r\n", _date.get()]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    if close:
        parts.append(b"connection: close\r\n")
    elif keep_alive_1_0:  # an HTTP/1.0 client keeps the connection only when told so
        parts.append(b"connection: keep-alive\r\n")
    parts.append(b"\r\n")
    if not head_only:
        parts.append(body)
    return b"".join(parts)

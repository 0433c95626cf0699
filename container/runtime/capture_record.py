"""One captured exchange: the frame the worker hands to the capture writer, and the JSON Lines record
(SageMaker's data-capture format) the writer makes of it. Pure functions; see capture.py for the format
and its references.

A frame is a fixed header (the time, then the byte lengths of the six fields; an id's length is stored
plus one, so 0 means None) followed by the fields: request content type, response content type,
client inference id, event id, request body, response body. Packing it is the only capture work on
the request path; encoding the record happens in the writer process.
"""

from __future__ import annotations

import base64
import itertools
import os
import struct
from collections.abc import Callable

import orjson

from container.runtime.codec import CSV, JSON, media_type

# time, len(body), len(out_body), len(in_type), len(out_type), len(client_id) + 1, len(event_id) + 1
HEAD = struct.Struct("<dIIIIII")
# As text: JSON and CSV, and JSON Lines (Batch Transform's SplitType Line bodies), which SageMaker
# records as text when listed in CaptureContentTypeHeader.JsonContentTypes; anything else as base64.
_ENCODINGS = {JSON: "JSON", CSV: "CSV", "application/jsonlines": "JSON", "application/x-jsonlines": "JSON"}
# (time, client id, event id, request type, request body, response type, response body)
Item = tuple[float, str | None, str | None, str, bytes, str, bytes]


def id_source(start: int | None = None) -> Callable[[], str]:
    """A UUID4-shaped id maker: 74 random bits name the process (UUID4's version and variant bits set), a
    48-bit counter from a random start names the record; unique until 2**48 ids in one process. Ids need to
    be unique, not unguessable: this costs a quarter of a random UUID4."""
    bits = int.from_bytes(os.urandom(10), "big") & ~(0xF000 << 16 | 0xC000) | (0x4000 << 16 | 0x8000)
    head = f"{bits:020x}"
    prefix = f"{head[:8]}-{head[8:12]}-{head[12:16]}-{head[16:20]}-"
    counter = itertools.count(int.from_bytes(os.urandom(6), "big") if start is None else start)
    return lambda: f"{prefix}{next(counter) & 0xFFFFFFFFFFFF:012x}"


def _text(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


_TYPES: dict[str, bytes] = {}  # content type -> its bytes: the same few types on every request


def _type_bytes(value: str) -> bytes:
    found = _TYPES.get(value)
    if found is None:
        found = _text(value)
        if len(_TYPES) < 64:  # content types come from clients: cache a few
            _TYPES[value] = found
    return found


def pack(when: float, client_id: str | None, event_id: str | None, in_type: str, body: bytes, out_type: str,
         out_body: bytes) -> bytes:
    """The frame of one exchange (about 1 us: this is what a captured request costs the event loop)."""
    tin, tout = _type_bytes(in_type), _type_bytes(out_type)
    if client_id is None:
        eid = b"" if event_id is None else _text(event_id)
        head = HEAD.pack(when, len(body), len(out_body), len(tin), len(tout), 0,
                         0 if event_id is None else len(eid) + 1)
        return b"".join((head, tin, tout, eid, body, out_body))
    cid = _text(client_id)
    eid = b"" if event_id is None else _text(event_id)
    head = HEAD.pack(when, len(body), len(out_body), len(tin), len(tout), len(cid) + 1,
                     0 if event_id is None else len(eid) + 1)
    return b"".join((head, tin, tout, cid, eid, body, out_body))


def unpack(data: bytes | bytearray, start: int = 0) -> tuple[list[Item], int]:
    """The whole frames in data[start:] -> (items, offset after the last whole frame)."""
    items: list[Item] = []
    view = memoryview(data)
    at, end, size = start, len(data), HEAD.size
    while end - at >= size:
        when, n_body, n_out, n_tin, n_tout, n_cid, n_eid = HEAD.unpack_from(data, at)
        total = size + n_body + n_out + n_tin + n_tout + max(n_cid - 1, 0) + max(n_eid - 1, 0)
        if end - at < total:
            break
        p = at + size
        fields: list[bytes] = []
        for length in (n_tin, n_tout, max(n_cid - 1, 0), max(n_eid - 1, 0), n_body, n_out):
            fields.append(bytes(view[p:p + length]))
            p += length
        tin, tout, cid, eid, body, out = fields
        items.append((when, cid.decode("utf-8", "surrogateescape") if n_cid else None,
                      eid.decode("utf-8", "surrogateescape") if n_eid else None,
                      tin.decode("utf-8", "surrogateescape"), body, tout.decode("utf-8", "surrogateescape"), out))
        at += total
    view.release()
    return items, at


def payload(content_type: str, body: bytes, mode: str) -> dict[str, str]:
    """One side of a record, as a dict (the shape `line` writes)."""
    return orjson.loads(side(content_type, body, mode))


_SIDES: dict[tuple[str, str], tuple[bytes, bytes | None]] = {}  # (type, mode) -> (prefix, text suffix)


def side(content_type: str, body: bytes, mode: str) -> bytes:
    """{"observedContentType", "mode", "data", "encoding"} as JSON bytes, built from cached pieces."""
    pieces = _SIDES.get((content_type, mode))
    if pieces is None:
        prefix = b'{"observedContentType":' + orjson.dumps(content_type) + b',"mode":"' + mode.encode() + b'","data":'
        encoding = _ENCODINGS.get(media_type(content_type))
        pieces = (prefix, b',"encoding":"' + encoding.encode() + b'"}' if encoding else None)
        if len(_SIDES) < 64:  # content types come from clients: cache a few
            _SIDES[(content_type, mode)] = pieces
    prefix, text_suffix = pieces
    if text_suffix is not None:
        try:
            return prefix + orjson.dumps(body.decode("utf-8")) + text_suffix
        except UnicodeDecodeError:
            pass
    return prefix + b'"' + base64.b64encode(body) + b'","encoding":"BASE64"}'


def line(item: Item, stamp: bytes, new_id: Callable[[], str]) -> bytes:
    """The record of one item, newline-terminated; `stamp` is its inferenceTime, `new_id` names it when
    the client gave its own inference id (so the event id was not drawn on the request path)."""
    _, client_id, event_id, in_type, body, out_type, out_body = item
    client = b',"inferenceId":' + orjson.dumps(client_id) if client_id is not None else b""
    return b"".join((b'{"captureData":{"endpointInput":', side(in_type, body, "INPUT"), b',"endpointOutput":',
                     side(out_type, out_body, "OUTPUT"), b'},"eventMetadata":{"eventId":"',
                     (event_id or new_id()).encode(), b'","inferenceTime":"', stamp, b'"', client,
                     b'},"eventVersion":"0"}\n'))

"""One captured exchange: the item the worker queues and hands to its capture writer, and the JSON Lines
record (SageMaker's data-capture format) the writer makes of it. Pure functions; see capture.py for the format
and its references.

The worker hands its queued items to the writer in batches: an 8-byte length, then the list of items
in `marshal` form (one C call each way; the pipe is private to the worker and its own writer process,
so nothing else can write to it). Queuing an item is the only capture work on the request path.
"""

from __future__ import annotations

import base64
import itertools
import marshal
import os
import struct
from collections.abc import Callable

import orjson

from container.runtime.codec import CSV, JSON, media_type

BATCH_HEAD = struct.Struct("<Q")  # the byte length of the marshalled batch that follows
# As text: JSON and CSV, and JSON Lines (Batch Transform's SplitType Line bodies), which SageMaker
# records as text when listed in CaptureContentTypeHeader.JsonContentTypes; anything else as base64.
_ENCODINGS = {JSON: "JSON", CSV: "CSV", "application/jsonlines": "JSON", "application/x-jsonlines": "JSON"}
# (time, client id, event id, request type, request body, response type, response body, body bytes):
# the last is what the item counts against MODELSTAGE_CAPTURE_QUEUE's byte bound
Item = tuple[float, str | None, str | None, str, bytes, str, bytes, int]


def id_source(start: int | None = None) -> Callable[[], str]:
    """A UUID4-shaped id maker: 74 random bits name the process (UUID4's version and variant bits set), a
    48-bit counter from a random start names the record; unique until 2**48 ids in one process. Ids need to
    be unique, not unguessable: this costs a quarter of a random UUID4."""
    bits = int.from_bytes(os.urandom(10), "big") & ~(0xF000 << 16 | 0xC000) | (0x4000 << 16 | 0x8000)
    head = f"{bits:020x}"
    prefix = f"{head[:8]}-{head[8:12]}-{head[12:16]}-{head[16:20]}-"
    counter = itertools.count(int.from_bytes(os.urandom(6), "big") if start is None else start)
    return lambda: f"{prefix}{next(counter) & 0xFFFFFFFFFFFF:012x}"


def encode_batch(items: list[Item]) -> bytes:
    data = marshal.dumps(items)
    return BATCH_HEAD.pack(len(data)) + data


def decode_batches(data: bytes | bytearray) -> tuple[list[Item], int]:
    """The whole batches in data -> (their items, in order; the offset after the last whole batch)."""
    items: list[Item] = []
    at, size = 0, BATCH_HEAD.size
    while len(data) - at >= size:
        (length,) = BATCH_HEAD.unpack_from(data, at)
        if len(data) - at - size < length:
            break
        items.extend(marshal.loads(data[at + size:at + size + length]))
        at += size + length
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
    _, client_id, event_id, in_type, body, out_type, out_body, _ = item
    client = b',"inferenceId":' + orjson.dumps(client_id) if client_id is not None else b""
    return b"".join((b'{"captureData":{"endpointInput":', side(in_type, body, "INPUT"), b',"endpointOutput":',
                     side(out_type, out_body, "OUTPUT"), b'},"eventMetadata":{"eventId":"',
                     (event_id or new_id()).encode(), b'","inferenceTime":"', stamp, b'"', client,
                     b'},"eventVersion":"0"}\n'))

"""Capture's inference ids (container/runtime/capture_record.py `id_source`): UUID4-shaped, unique within a process
and across processes, also where the counter wraps."""

from __future__ import annotations

import uuid
from pathlib import Path

from container.runtime.capture import Capture, CaptureSettings
from container.runtime.capture_record import id_source


def _capture(tmp_path: Path) -> Capture:
    return Capture(CaptureSettings(directory=str(tmp_path / "capture")))  # never started: no thread


def _is_uuid4(value: str) -> bool:
    parsed = uuid.UUID(value)
    return parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == value


def test_ids_are_uuid4_shaped_and_unique(tmp_path: Path) -> None:
    captures = [_capture(tmp_path) for _ in range(50)]  # as many worker processes: each draws its own prefix
    ids = [c.new_id() for c in captures for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(_is_uuid4(i) for i in ids)


def test_the_counter_wraps_inside_its_12_hex_digits() -> None:
    new_id = id_source(start=(1 << 48) - 1)
    last, first = new_id(), new_id()
    assert last.endswith("-ffffffffffff") and first.endswith("-000000000000")
    assert _is_uuid4(last) and _is_uuid4(first) and last[:24] == first[:24]

"""The capture writer's files (container/runtime/capture_writer.py `FileWriter`), in process: however many
records arrive in one batch (a writer process that fell behind reads many at once), a file is closed
once it reaches the size limit, and every record lands in the file of its hour."""

from __future__ import annotations

import calendar
import json
from pathlib import Path

from container.runtime.capture_record import Item
from container.runtime.capture_writer import FileWriter

BODY, REPLY = b'{"input": [1200, 3, 2]}', b'{"price": 1.0}'


def item(when: float, n: int) -> Item:
    return (when, None, f"ev-{n}", "application/json", BODY, "application/json", REPLY, len(BODY) + len(REPLY))


def test_one_big_batch_still_rotates_at_the_limit(tmp_path: Path) -> None:
    writer = FileWriter(str(tmp_path), 4096)
    assert writer.write_items([item(1.8e9, i) for i in range(500)]) == 500
    writer.close()
    files = list(tmp_path.rglob("*.jsonl"))
    lines = [json.loads(x) for f in files for x in f.read_bytes().splitlines()]
    longest = max(len(x) for f in files for x in f.read_bytes().splitlines(keepends=True))
    assert writer.records == 500 and len(lines) == 500
    assert len(files) > 10 and all(f.stat().st_size < 4096 + longest for f in files)


def test_records_go_to_the_file_of_their_hour(tmp_path: Path) -> None:
    hour = calendar.timegm((2026, 12, 3, 7, 0, 0))
    writer = FileWriter(str(tmp_path), 1 << 20)
    writer.write_items([item(hour - 1, 0), item(hour, 1), item(hour + 1, 2)])
    writer.close()
    by_folder = {f.parent.relative_to(tmp_path).as_posix(): len(f.read_bytes().splitlines())
                 for f in tmp_path.rglob("*.jsonl")}
    assert by_folder == {"2026/12/03/06": 1, "2026/12/03/07": 2}

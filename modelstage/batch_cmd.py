"""`modelstage batch`: score a file with a bundle (model/batch.py), with progress and a summary."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from model.batch import DEFAULT_CHUNK_ROWS, BatchResult, peak_rss_bytes, score_file
from model.errors import BundleError

_PLAIN_EVERY = 10.0  # seconds between progress lines when stderr is not a terminal (CI logs)
_BAR_EVERY = 0.2
_BAR_WIDTH = 30


class ProgressReport:
    """A bar with rows/s on a terminal; a plain line every few seconds otherwise."""

    def __init__(self, stream: TextIO, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.started = time.perf_counter()
        self._last = self.started
        self._drawn = False

    def __call__(self, rows: int, fraction: float | None) -> None:
        now = time.perf_counter()
        if now - self._last < (_BAR_EVERY if self.tty else _PLAIN_EVERY):
            return
        self._last = now
        rate = rows / max(now - self.started, 1e-9)
        if self.tty:
            done = fraction or 0.0
            bar = "#" * int(done * _BAR_WIDTH)
            pct = f"{done * 100:5.1f}%" if fraction is not None else "   ?  "
            self.stream.write(f"\r[{bar:<{_BAR_WIDTH}}] {pct} {rows:,} rows  {rate:,.0f} rows/s")
            self._drawn = True
        else:
            pct = f" ({fraction * 100:.0f}% of the input)" if fraction is not None else ""
            self.stream.write(f"batch: {rows:,} rows{pct}, {rate:,.0f} rows/s\n")
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def summary(result: BatchResult) -> str:
    return (f"scored {result.scored:,} rows, refused {result.refused:,}, {result.rows_per_second:,.0f} rows/s "
            f"in {result.seconds:.1f} s, peak RSS {peak_rss_bytes() / 2**20:.0f} MiB; "
            f"wrote {result.output}" + (f", refusals in {result.errors}" if result.refused else ""))


def batch(bundle: Path, source: Path, output: Path, *, errors: Path | None = None, input_format: str | None = None,
          output_format: str | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS, threads: int | None = None) -> int:
    from model.bundle import load_bundle
    from model.scoring import Scorer

    if not bundle.exists():
        raise BundleError(f"no bundle at {bundle}")
    scorer = Scorer(load_bundle(bundle))
    report = ProgressReport(sys.stderr)
    try:
        result = score_file(scorer, source, output, errors=errors, input_format=input_format,
                            output_format=output_format, chunk_rows=chunk_rows, progress=report, threads=threads)
    finally:
        report.close()
    print(summary(result))
    return 0

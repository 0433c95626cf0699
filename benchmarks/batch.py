"""Batch scoring figures: `modelstage batch` on 1,000,000 generated rows from CSV and from Parquet,
against in-process ONNX Runtime scoring the same rows held in memory.

    python benchmarks/batch.py [--rows 1000000] [--bundle out/bundle] [--work DIR] [--chunk-rows N]

Prints, per input format: the command's wall time and rows/s (process start, model load, reading,
validation, scoring and writing included), its own rows/s, its peak RSS, and the ratio to ONNX
Runtime's rows/s (target: at least 70%; peak RSS goal: under 300 MB). A figure, not a test.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from model.bundle import Bundle, load_bundle  # noqa: E402
from model.dataset import make_house_prices  # noqa: E402

_SUMMARY = re.compile(r"scored ([\d,]+) rows, refused ([\d,]+), ([\d,]+) rows/s .* peak RSS (\d+) MiB")


def _bundle(path: Path | None, work: Path) -> Bundle:
    if path is not None:
        return load_bundle(path)
    from model.package import package_example

    return package_example(work / "bundle")


def write_inputs(bundle: Bundle, rows: int, work: Path) -> tuple[Path, Path, np.ndarray]:
    """The same generated rows as CSV and Parquet (written in slices: memory stays flat), and in memory."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    names = bundle.schema.names
    X = make_house_prices(rows, seed=7, missing_rate=0.0).X
    for c, f in enumerate(bundle.schema.features):  # within the schema's ranges
        X[:, c] = np.clip(X[:, c], f.minimum, f.maximum)
    csv_path, parquet_path = work / "rows.csv", work / "rows.parquet"
    schema = pa.schema([(n, pa.float64()) for n in names])
    with pacsv.CSVWriter(csv_path, schema) as cw, pq.ParquetWriter(parquet_path, schema) as pw:
        for start in range(0, rows, 100_000):
            part = X[start:start + 100_000]
            table = pa.table({n: part[:, c] for c, n in enumerate(names)}, schema=schema)
            cw.write_table(table)
            pw.write_table(table)
    return csv_path, parquet_path, X


def onnx_rows_per_second(bundle: Bundle, X: np.ndarray, chunk: int, threads: int = 0) -> tuple[float, float]:
    """ONNX Runtime on the rows in memory: one call over all rows, and calls of `chunk` rows (best of 3).
    threads 0: onnxruntime's default (one per core); 1: as the runtime's predictor runs it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(bundle.model_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    X32 = X.astype(np.float32)
    session.run(None, {name: X32[:1000]})
    whole, chunked = [], []
    for _ in range(3):
        t = time.perf_counter()
        session.run(None, {name: X32})
        whole.append(time.perf_counter() - t)
        t = time.perf_counter()
        for start in range(0, len(X32), chunk):
            session.run(None, {name: X32[start:start + chunk]})
        chunked.append(time.perf_counter() - t)
    return len(X) / min(whole), len(X) / min(chunked)


def run_batch(bundle: Bundle, source: Path, work: Path, chunk: int) -> dict[str, float]:
    out = work / f"scored-{source.suffix[1:]}{source.suffix}"
    cmd = [sys.executable, "-m", "modelstage", "batch", "--bundle", str(bundle.path), "--input", str(source),
           "--output", str(out), "--chunk-rows", str(chunk)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    m = _SUMMARY.search(proc.stdout)
    if not m:
        raise SystemExit(f"no summary line in: {proc.stdout!r}")
    scored = int(m.group(1).replace(",", ""))
    return {"scored": scored, "wall": wall, "wall_rows_s": scored / wall,
            "own_rows_s": float(m.group(3).replace(",", "")), "peak_mib": float(m.group(4))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--bundle", type=Path, help="bundle directory (default: package the example)")
    p.add_argument("--work", type=Path, help="directory for the generated files (default: a temporary one)")
    p.add_argument("--chunk-rows", type=int, default=65_536)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="modelstage-batch-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        bundle = _bundle(args.bundle, work)
        csv_path, parquet_path, X = write_inputs(bundle, args.rows, work)
        print(f"{args.rows:,} rows x {X.shape[1]} features; CSV {csv_path.stat().st_size / 2**20:.0f} MiB, "
              f"Parquet {parquet_path.stat().st_size / 2**20:.0f} MiB; chunks of {args.chunk_rows:,} rows")
        whole, chunked = onnx_rows_per_second(bundle, X, args.chunk_rows)
        one, one_chunked = onnx_rows_per_second(bundle, X, args.chunk_rows, threads=1)
        del X
        print(f"onnxruntime in memory, default threads: {whole:,.0f} rows/s in one call, {chunked:,.0f} in chunks; "
              f"one thread: {one:,.0f} rows/s in one call, {one_chunked:,.0f} in chunks")
        for source in (csv_path, parquet_path):
            r = run_batch(bundle, source, work, args.chunk_rows)
            best = max(whole, chunked)
            print(f"modelstage batch {source.suffix[1:]:8s}: {r['wall']:.2f} s wall (process start and model load "
                  f"included), {r['wall_rows_s']:,.0f} rows/s = {r['wall_rows_s'] / best:.0%} of onnxruntime's best "
                  f"(default threads), {r['wall_rows_s'] / max(one, one_chunked):.0%} of one-thread onnxruntime; "
                  f"{r['own_rows_s']:,.0f} rows/s counted by the command ({r['own_rows_s'] / best:.0%}, "
                  f"{r['own_rows_s'] / max(one, one_chunked):.0%}); peak RSS {r['peak_mib']:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

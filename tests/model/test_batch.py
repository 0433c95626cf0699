"""Batch scoring of files (model/batch.py): CSV, Parquet and JSON Lines streamed in chunks, row order,
the errors file and its messages (the HTTP API's), temp-then-rename, bad input, bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from container.runtime.contracts import invocations
from model.batch import BatchInputError, score_file
from model.bundle import Bundle
from model.scoring import Scorer
from tests.conftest import ROOT

GOOD = [1200.0, 3.0, 2.0, 5000.0, 1990.0, 1.0, 3.0, 10.0]
# Bad rows (by feature name) and the field the API names for each.
BAD = {
    "bedrooms": 99.0,  # out of range
    "condition": 2.5,  # not a whole number
    "living_area_sqft": None,  # missing where not allowed
    "bathrooms": "lots",  # not a number
}


@pytest.fixture(scope="module")
def scorer(bundle: Bundle) -> Scorer:
    return Scorer(bundle)


def _rows(scorer: Scorer, n: int, bad_every: int = 0) -> tuple[list[dict[str, object]], dict[int, str]]:
    """n rows by name (1-based row numbers); every `bad_every`-th row is bad -> {row number: field}."""
    rng = np.random.default_rng(3)
    names = scorer.encoder.names
    rows: list[dict[str, object]] = []
    bad: dict[int, str] = {}
    kinds = list(BAD.items())
    for i in range(n):
        values = list(GOOD)
        values[0] = float(rng.integers(500, 5000))
        values[1] = float(rng.integers(1, 6))
        row: dict[str, object] = dict(zip(names, values, strict=True))
        if i % 7 == 3:
            row["lot_size_sqft"] = None  # imputable: scored
        if bad_every and i % bad_every == bad_every - 1:
            field, value = kinds[len(bad) % len(kinds)]
            row[field] = value
            bad[i + 1] = field
        rows.append(row)
    return rows, bad


def _write(path: Path, rows: list[dict[str, object]], names: tuple[str, ...]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".csv":
        lines = [",".join(names)] + [",".join("" if r[n] is None else str(r[n]) for n in names) for r in rows]
        path.write_text("\n".join(lines) + "\n")
    else:
        text_cols = {n for r in rows for n in names if isinstance(r[n], str)}
        cols = {n: pa.array([None if r[n] is None else (str(r[n]) if n in text_cols else r[n]) for r in rows])
                for n in names}
        pq.write_table(pa.table(cols), path, row_group_size=100)
    return path


def _read(path: Path) -> list[dict[str, object]]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    table = pacsv.read_csv(path) if path.suffix == ".csv" else pq.read_table(path)
    return table.to_pylist()


def _errors(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _api_error(scorer: Scorer, row: dict[str, object]) -> dict[str, object]:
    reply = invocations(scorer, json.dumps({"instances": [row]}).encode(), "application/json", None)
    assert reply.status == 400
    return json.loads(reply.body)["error"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_every_format_streams_in_order_and_refuses_bad_rows_with_the_apis_messages(
        scorer: Scorer, tmp_path: Path, suffix: str) -> None:
    rows, bad = _rows(scorer, 1000, bad_every=37)
    source = _write(tmp_path / f"in{suffix}", rows, scorer.encoder.names)
    out = tmp_path / f"out{suffix}"
    seen: list[int] = []
    result = score_file(scorer, source, out, chunk_rows=64, progress=lambda n, f: seen.append(n))
    assert (result.scored, result.refused) == (1000 - len(bad), len(bad))
    assert len(seen) > 10 and seen == sorted(seen) and seen[-1] == 1000  # streamed: many chunks
    good = [(i + 1, r) for i, r in enumerate(rows) if i + 1 not in bad]
    scored = _read(out)
    assert [r["row"] for r in scored] == [n for n, _ in good]  # order preserved
    assert [r["price"] for r in scored] == scorer.score([r for _, r in good])  # the runtime's scoring
    errors = _errors(tmp_path / f"out{suffix}.errors.jsonl")
    assert [e["row"] for e in errors] == sorted(bad)
    for e in errors:
        n = int(e["row"])  # type: ignore[arg-type]
        api = _api_error(scorer, rows[n - 1])  # the same row through the HTTP API
        assert e["field"] == bad[n] == api["field"]
        assert (e["code"], e["expected"]) == (api["code"], api["expected"])
        assert e["message"] == str(api["message"]).replace("row 0", f"row {n}", 1), e


def test_output_format_can_differ_from_the_input(scorer: Scorer, tmp_path: Path) -> None:
    rows, _ = _rows(scorer, 50)
    source = _write(tmp_path / "in.parquet", rows, scorer.encoder.names)
    score_file(scorer, source, tmp_path / "out.jsonl")
    score_file(scorer, source, tmp_path / "scores.txt", output_format="csv")
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"row": 1, "price": scorer.score([rows[0]])[0]}
    assert (tmp_path / "scores.txt").read_text().splitlines()[0] == "row,price"


def test_csv_row_numbers_follow_lines_through_blank_and_short_lines(scorer: Scorer, tmp_path: Path) -> None:
    header = ",".join(scorer.encoder.names) + ",note"
    good = ",".join(f"{v:g}" for v in GOOD)
    text = f"{header}\n{good},a\n\n{good},b\n1200,3\n {good.replace('1200', '1300')},c\n"
    source = tmp_path / "in.csv"
    source.write_text(text)
    result = score_file(scorer, source, tmp_path / "out.csv")
    assert (result.scored, result.refused) == (3, 1)
    assert [r["row"] for r in _read(tmp_path / "out.csv")] == [1, 3, 5]  # row N is line N + 1
    (err,) = _errors(tmp_path / "out.csv.errors.jsonl")
    assert err == {"code": "wrong_feature_count", "message": "row 4: 2 values for 9 header columns", "row": 4,
                   "expected": "9 values"}


def test_jsonl_lines_are_rows_as_in_a_request(scorer: Scorer, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('[1200, 3, 2]\n{"living_area_sqft": 2000}\nnot json\n\n{"colour": "red"}\n')
    result = score_file(scorer, source, tmp_path / "out.jsonl")
    assert (result.scored, result.refused) == (2, 2)
    assert [r["price"] for r in _read(tmp_path / "out.jsonl")] == scorer.score([[1200, 3, 2],
                                                                                {"living_area_sqft": 2000}])
    bad_json, unknown = _errors(tmp_path / "out.jsonl.errors.jsonl")
    assert bad_json["row"] == 3 and bad_json["code"] == "malformed_json"
    assert unknown["row"] == 5 and unknown["message"] == "row 5: unknown feature 'colour'"


def test_partial_output_is_never_left_behind(scorer: Scorer, tmp_path: Path) -> None:
    rows, _ = _rows(scorer, 500)
    source = _write(tmp_path / "in.csv", rows, scorer.encoder.names)
    out = tmp_path / "out.csv"
    out.write_text("the previous run's output\n")

    def stop(n: int, fraction: float | None) -> None:
        if n >= 100:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_file(scorer, source, out, chunk_rows=50, progress=stop)
    assert out.read_text() == "the previous run's output\n"  # untouched: the new one was a temp file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]  # and it is gone
    score_file(scorer, source, out, chunk_rows=50)
    assert len(_read(out)) == 500


def _fails(scorer: Scorer, source: Path, out: Path, *fragments: str, **kw: object) -> BatchInputError:
    with pytest.raises(BatchInputError) as info:
        score_file(scorer, source, out, **kw)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message and all(f in message for f in fragments), message
    assert info.value.exit_code == 2
    assert not out.exists()
    return info.value


def test_bad_input_is_one_clear_error(scorer: Scorer, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    _fails(scorer, tmp_path / "nope.csv", out, "no input file")
    (tmp_path / "empty.csv").write_text("")
    _fails(scorer, tmp_path / "empty.csv", out, "is empty")
    (tmp_path / "header.csv").write_text(",".join(scorer.encoder.names) + "\n")
    _fails(scorer, tmp_path / "header.csv", out, "has no rows")
    (tmp_path / "empty.jsonl").write_text("\n\n")
    _fails(scorer, tmp_path / "empty.jsonl", out, "has no rows")
    (tmp_path / "cols.csv").write_text("living_area_sqft,rooms\n1200,3\n")
    _fails(scorer, tmp_path / "cols.csv", out, "missing columns bedrooms, bathrooms", "the file has living_area_sqft")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all" * 10)
    _fails(scorer, tmp_path / "junk.parquet", out, "cannot read", "as Parquet")
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00\x01garbage")
    _fails(scorer, tmp_path / "binary.csv", out, "cannot read", "not UTF-8")
    (tmp_path / "data.xlsx").write_text("x")
    _fails(scorer, tmp_path / "data.xlsx", out, "cannot tell the format", "--format")
    rows: list[dict[str, object]] = [dict.fromkeys(scorer.encoder.names, "text") for _ in range(5)]
    source = _write(tmp_path / "types.csv", rows, scorer.encoder.names)
    _fails(scorer, source, out, "all 5 rows", "were refused", "expected a number, got 'text'")
    assert len(_errors(tmp_path / "out.csv.errors.jsonl")) == 5  # the reasons are kept


_MEMORY_PROBE = textwrap.dedent("""
    import sys
    from pathlib import Path
    from model.batch import peak_rss_bytes, score_file
    from model.bundle import load_bundle
    from model.scoring import Scorer

    scorer = Scorer(load_bundle(Path(sys.argv[1])))
    scorer.score([[1200, 3, 2]] * 1000)
    before = peak_rss_bytes()
    result = score_file(scorer, Path(sys.argv[2]), Path(sys.argv[3]), chunk_rows=16384)
    print(result.scored, before, peak_rss_bytes())
""")


@pytest.mark.slow
def test_memory_stays_bounded_on_200k_rows(bundle: Bundle, tmp_path: Path) -> None:
    names = bundle.schema.names
    n = 200_000
    rng = np.random.default_rng(5)
    cols = {name: np.full(n, v) for name, v in zip(names, GOOD, strict=True)}
    cols["living_area_sqft"] = rng.integers(500, 5000, n).astype(float)
    source = tmp_path / "big.csv"
    pacsv.write_csv(pa.table(cols), source)
    proc = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(bundle.path), str(source),
                           str(tmp_path / "out.parquet")], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    scored, before, after = (int(v) for v in proc.stdout.split())
    growth_mib = (after - before) / 2**20
    print(f"\n{n:,} rows ({source.stat().st_size / 2**20:.1f} MiB of CSV): peak RSS {after / 2**20:.0f} MiB, "
          f"growth {growth_mib:.0f} MiB while scoring")
    assert scored == n
    assert growth_mib < 200
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_rows == n


def test_csv_row_numbers_stay_exact_across_blocks_and_chunks(scorer: Scorer, tmp_path: Path) -> None:
    """CRLF lines, blank and short lines scattered over several parser blocks (1 MiB each) and chunks."""
    rng = np.random.default_rng(11)
    lines = [",".join(scorer.encoder.names)]
    ok: list[int] = []
    bad: list[int] = []
    for r in rng.random(120_000).tolist():
        number = len(lines)  # the row number of the line about to be added (line - 1)
        if r < 0.002:
            lines.append("")
        elif r < 0.004:
            lines.append("1,2")
            bad.append(number)
        elif r < 0.006:
            lines.append("1200,99,2,5000,1990,1,3,10")
            bad.append(number)
        else:
            lines.append(f"{1000 + number % 3000},3,2,5000,1990,1,3,10")
            ok.append(number)
    source = tmp_path / "in.csv"
    source.write_text("\r\n".join(lines) + "\r\n", newline="")
    assert source.stat().st_size > 3 * 2**20
    result = score_file(scorer, source, tmp_path / "out.csv", chunk_rows=5_000)
    assert (result.scored, result.refused) == (len(ok), len(bad))
    assert [r["row"] for r in _read(tmp_path / "out.csv")] == ok
    assert [e["row"] for e in _errors(tmp_path / "out.csv.errors.jsonl")] == bad

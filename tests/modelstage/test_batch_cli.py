"""`modelstage batch`: exit 0 with a summary, exit 2 with one line for bad input, progress output."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from model.bundle import Bundle
from modelstage import batch_cmd
from modelstage.cli import main
from tests.conftest import ROOT

GOOD = "1200,3,2,5000,1990,1,3,10"


def _csv(path: Path, bundle: Bundle, lines: list[str]) -> Path:
    path.write_text("\n".join([",".join(bundle.schema.names), *lines]) + "\n")
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["batch", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_scores_a_file_and_prints_a_summary(bundle: Bundle, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    source = _csv(tmp_path / "in.csv", bundle, [GOOD, GOOD.replace("1200", "50"), GOOD])
    code, out, _ = _run(capsys, "--bundle", str(bundle.path), "--input", str(source), "--output",
                        str(tmp_path / "out.jsonl"), "--chunk-rows", "2")
    assert code == 0
    assert out.startswith("scored 2 rows, refused 1, ") and "rows/s" in out and "peak RSS" in out
    assert [json.loads(line)["row"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == [1, 3]
    (refusal,) = (tmp_path / "out.jsonl.errors.jsonl").read_text().splitlines()
    assert json.loads(refusal)["message"] == "row 2, field 'living_area_sqft': 50 is outside the allowed range " \
                                             "[100, 30000]"


def test_format_flag_reads_a_file_without_its_suffix(bundle: Bundle, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "rows.txt"
    _csv(source, bundle, [GOOD])
    errors = tmp_path / "refused.jsonl"
    code, _, _ = _run(capsys, "--bundle", str(bundle.path), "--input", str(source), "--format", "csv",
                      "--output", str(tmp_path / "o.parquet"), "--errors", str(errors))
    assert code == 0 and (tmp_path / "o.parquet").exists() and errors.read_text() == ""


@pytest.mark.parametrize(("content", "fragment"), [
    (None, "no input file"),
    ("", "is empty"),
    ("living_area_sqft\n1200\n", "missing columns bedrooms"),
    ("HEADER", "has no rows"),
    ("TEXT", "all 2 rows"),
])
def test_bad_input_exits_2_with_one_line(bundle: Bundle, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         content: str | None, fragment: str) -> None:
    source = tmp_path / "in.csv"
    header = ",".join(bundle.schema.names)
    if content == "HEADER":
        source.write_text(header + "\n")
    elif content == "TEXT":
        source.write_text(header + "\n" + ",".join(["x"] * 8) + "\n" + ",".join(["y"] * 8) + "\n")
    elif content is not None:
        source.write_text(content)
    code, out, err = _run(capsys, "--bundle", str(bundle.path), "--input", str(source), "--output",
                          str(tmp_path / "out.csv"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("modelstage: error: ") and fragment in err, err
    assert not (tmp_path / "out.csv").exists()


def test_no_traceback_from_the_installed_command(bundle: Bundle, tmp_path: Path) -> None:
    (tmp_path / "in.parquet").write_bytes(b"PAR1 but not really")
    proc = subprocess.run([sys.executable, "-m", "modelstage", "batch", "--bundle", str(bundle.path), "--input",
                           str(tmp_path / "in.parquet"), "--output", str(tmp_path / "o.csv")],
                          capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "as Parquet" in proc.stderr and "Traceback" not in proc.stderr
    missing = subprocess.run([sys.executable, "-m", "modelstage", "batch", "--bundle", str(tmp_path / "nope"),
                              "--input", "x.csv", "--output", "o.csv"],
                             capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no bundle" in missing.stderr


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_cmd, "_PLAIN_EVERY", 0.0)
    monkeypatch.setattr(batch_cmd, "_BAR_EVERY", 0.0)
    plain = io.StringIO()
    report = batch_cmd.ProgressReport(plain, tty=False)
    report(1000, 0.5)
    report(2000, None)
    report.close()
    lines = plain.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("batch: 1,000 rows (50% of the input), ") and "rows/s" in lines[0]
    bar = io.StringIO()
    report = batch_cmd.ProgressReport(bar, tty=True)
    report(1000, 0.5)
    report.close()
    text = bar.getvalue()
    assert text.startswith("\r[###############") and " 50.0% 1,000 rows " in text and text.endswith("rows/s\n")

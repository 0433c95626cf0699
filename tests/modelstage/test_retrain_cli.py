"""`modelstage retrain` end to end through modelstage.cli.main: exit 0 and rollout commands when a new
bundle is written, 1 when refused, 2 with one line for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from infra.spec_keys import KEYS
from model.bundle import Bundle, load_bundle
from model.dataset import FEATURES, TARGET, make_house_prices
from modelstage.cli import main
from tests.model.test_retrain import broken_training_labels, shifted_prices, write_csv


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["retrain", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_accepted_writes_the_bundle_the_report_and_prints_the_rollout(
        bundle: Bundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "new.parquet"  # Parquet end to end (the model tests compare it with CSV)
    pq.write_table(pcsv.read_csv(shifted_prices(tmp_path / "new.csv", 800)), data)
    code, out, err = _run(capsys, "--bundle", str(bundle.path), "--data", str(data), "--out", str(tmp_path / "v2"),
                          "--stack", "aws-dev", "--version", "2")
    assert code == 0, err
    written = load_bundle(tmp_path / "v2", verify_archive=True)
    assert written.version == "2"
    report = json.loads((tmp_path / "retrain-report.json").read_text())  # next to --out by default
    page = (tmp_path / "retrain-report.html").read_text()
    assert "Champion and challenger on the same holdout" in page and 'data-plot="distribution:price"' in page
    assert report["decision"] == "accepted" and written.metrics == report["metrics"]["challenger"]
    assert "rule: challenger rmse <= champion rmse * (1 + 0): accepted" in out
    champion, challenger = report["metrics"]["champion"]["rmse"], report["metrics"]["challenger"]["rmse"]
    assert f"{'rmse':<8} {champion:>14,.6g} {challenger:>14,.6g}  <- decides" in out  # side by side
    assert "compared with house-prices@" in out and "KS D" in out  # the drift against the old baseline
    assert "bundlePath" in {k.name for k in KEYS}  # the key the printed command sets is the stack's real one
    assert f"pulumi config set modelstage:bundlePath {written.path.resolve()} --stack aws-dev" in out
    assert out.rstrip().endswith("pulumi preview --stack aws-dev")


def test_refused_writes_nothing_and_exits_1(bundle: Bundle, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = broken_training_labels(tmp_path / "new.csv", 500)
    code, out, _ = _run(capsys, "--bundle", str(bundle.path), "--data", str(data), "--out", str(tmp_path / "v2"),
                        "--report", str(tmp_path / "r.json"))
    assert code == 1
    assert ": refused" in out and "nothing written" in out and "pulumi" not in out
    assert not (tmp_path / "v2").exists()
    assert json.loads((tmp_path / "r.json").read_text())["accepted"] is False


def test_force_writes_exits_0_and_prints_placeholders_without_a_stack(
        bundle: Bundle, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the printed bundlePath is relative to here, like the stack's setting
    data = broken_training_labels(tmp_path / "new.csv", 500)
    code, out, _ = _run(capsys, "--bundle", str(bundle.path), "--data", "new.csv", "--out", "out/v2", "--force",
                        "--report", "-")
    assert code == 0
    assert "refused, written anyway (--force)" in out and "although it was refused (--force)" in out
    assert "pulumi config set modelstage:bundlePath out/v2 --stack <stack>" in out
    assert "pulumi preview --stack <stack>" in out
    assert load_bundle(tmp_path / "out" / "v2").version
    assert not list(tmp_path.rglob("*report*.json"))
    assert data.exists()


def _bad(tmp_path: Path, bundle: Bundle, case: str) -> list[str]:
    header = ",".join([*FEATURES, TARGET])
    csv = tmp_path / "d.csv"
    data = make_house_prices(n_rows=200, seed=9)
    if case == "missing column":
        write_csv(csv, data.X[:, 1:], data.y, names=FEATURES[1:])
    elif case == "wrong type":
        write_csv(csv, data.X, data.y)
        csv.write_text(csv.read_text().replace("\n", "\nbig,3,2,5000,1990,1,3,10,250000\n", 1))
    elif case == "empty":
        csv.write_text("")
    elif case == "no target":
        write_csv(csv, data.X, data.y, target="cost")
    elif case == "too few rows":
        write_csv(csv, data.X[:50], data.y[:50])
    elif case == "header only":
        csv.write_text(header + "\n")
    args = ["--bundle", str(bundle.path), "--data", str(csv), "--out", str(tmp_path / "v2")]
    if case == "unknown bundle":
        write_csv(csv, data.X, data.y)
        args[1] = str(tmp_path / "nowhere")
    if case == "out is the bundle":
        write_csv(csv, data.X, data.y)
        args[-1] = str(bundle.path)
    if case == "no such data":
        args[3] = str(tmp_path / "missing.csv")
    return args


@pytest.mark.parametrize(("case", "message"), [
    ("missing column", "missing feature column living_area_sqft"),
    ("wrong type", "data row 1, column 'living_area_sqft': expected a number, got 'big'"),
    ("empty", "the file is empty"),
    ("no target", "no target column 'price' (pass --target NAME)"),
    ("too few rows", "50 rows are too few"),
    ("header only", "no rows, only a header"),
    ("unknown bundle", "no bundle here"),
    ("out is the bundle", "must be a new directory outside the current bundle"),
    ("no such data", "no such data file"),
])
def test_bad_input_exits_2_with_one_line(bundle: Bundle, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         case: str, message: str) -> None:
    code, out, err = _run(capsys, *_bad(tmp_path, bundle, case))
    assert code == 2
    assert err.startswith("modelstage: error: ") and err.count("\n") == 1 and message in err, err
    assert out == "" and not (tmp_path / "v2").exists() and not (tmp_path / "retrain-report.json").exists()
    assert load_bundle(bundle.path, verify_archive=True)  # untouched


def test_a_negative_tolerance_is_a_usage_error(bundle: Bundle, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["retrain", "--bundle", str(bundle.path), "--data", "x.csv", "--out", str(tmp_path / "v2"),
              "--tolerance", "-0.1"])
    assert exc.value.code == 2
    assert "--tolerance" in capsys.readouterr().err

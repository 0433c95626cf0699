"""The command line as a user runs it: a subprocess, its exit code and what it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from model.bundle import Bundle, load_bundle
from model.dataset import FEATURES


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "modelstage", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_package_then_serve_is_refused_for_a_tampered_bundle(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    r = run("package", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert '"format": "onnx"' in r.stdout
    bundle = load_bundle(out, verify_archive=True)
    (bundle.path / "model.onnx").write_bytes(b"x")
    r = run("serve", "--bundle", str(out), "--port", "1")
    assert r.returncode == 2 and "model.onnx: checksum mismatch" in r.stderr and "Traceback" not in r.stderr


def test_train_then_package_the_users_own_model(tmp_path: Path) -> None:
    r = run("train", "--out", str(tmp_path / "trained"))
    assert r.returncode == 0, r.stderr
    features = ",".join(FEATURES)
    r = run("package", "--out", str(tmp_path / "b"), "--model", str(tmp_path / "trained" / "model.skops"),
            "--features", features, "--data", str(tmp_path / "trained" / "reference.csv"), "--target", "price")
    assert r.returncode == 0, r.stderr
    assert load_bundle(tmp_path / "b").metrics["r2"] > 0.85


@pytest.mark.parametrize(("args", "message"), [
    (["package", "--out", "x", "--model", "m.joblib"], "--model needs --features"),
    (["package", "--out", "x", "--features", "a,b"], "--features and --data go with --model"),
    (["package", "--out", "x", "--model", "m.joblib", "--features", "a,,b"], "expected comma-separated"),
    (["serve", "--bundle", "/nonexistent", "--port", "70000"], "expected a port between 1 and 65535"),
    (["serve", "--bundle", "/nonexistent"], "no bundle directory here"),
    (["serve", "--bundle", "/tmp", "--workers", "zero"], "expected a whole number"),
    (["local", "--as", "heroku", "--bundle", "x"], "invalid choice: 'heroku'"),
    (["drift", "--bundle", "/nonexistent", "--data", "x.csv"], "no bundle directory here"),
    (["build", "--registry-username", "AWS"], "--registry-username needs --registry-password-stdin"),
    (["build", "--registry-password-stdin"], "--registry-password-stdin needs --registry-username USER"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_get_one_clear_line(args: list[str], message: str) -> None:
    r = run(*args)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr


def test_drift_flags_a_shifted_feature(bundle: Bundle, tmp_path: Path) -> None:
    names = bundle.schema.names
    rows = [",".join(str(3 * f.default if f.name == "living_area_sqft" else f.default) for f in bundle.schema.features)
            for _ in range(200)]
    csv = tmp_path / "recent.csv"
    csv.write_text(",".join(names) + "\n" + "\n".join(rows) + "\n")
    r = run("drift", "--bundle", str(bundle.path), "--data", str(csv), "--json", str(tmp_path / "d.json"),
            "--html", "-")
    assert r.returncode == 1 and "living_area_sqft" in r.stdout and "DRIFT" in r.stdout
    assert (tmp_path / "d.json").is_file()


def test_demo_in_a_local_process(tmp_path: Path) -> None:
    r = run("demo", "--engine", "process", "--out", str(tmp_path / "demo"), timeout=300)
    assert r.returncode == 0, r.stderr
    assert '{"input": [1200, 3, 2]} -> 200 {"price":' in r.stdout
    assert "sample request" in r.stdout and "http://127.0.0.1:" in r.stdout and "exit code 0" in r.stdout

"""The MLflow baseline: `mlflow models serve` on the same scikit-learn model, in its own venv."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import servers
from benchmarks.cpu import CpuUse
from benchmarks.results import LoadResult

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".modelstage" / "bench-mlflow-venv"
INSTALL_TIMEOUT_S = 1800


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _usable(venv: Path) -> bool:
    if not (venv / "bin" / "mlflow").exists():
        return False
    check = subprocess.run([str(_python(venv)), "-c", "import mlflow, sklearn"], capture_output=True,
                           timeout=120, check=False)
    return check.returncode == 0


def ensure_venv(venv: Path = VENV, say: Callable[[str], None] = print) -> Path:
    """Create the venv and pip-install MLflow (from PyPI) only when it is not there yet."""
    if _usable(venv):
        return venv
    sklearn = metadata.version("scikit-learn")  # the pickle must load: same scikit-learn as training
    say(f"installing mlflow + scikit-learn=={sklearn} into {venv} (once; about 850 MB, a few minutes)")
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run([str(base), "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "-q", "mlflow",
                    f"scikit-learn=={sklearn}"], check=True, timeout=INSTALL_TIMEOUT_S)
    if not _usable(venv):
        raise RuntimeError(f"{venv}: mlflow still not importable after pip install")
    return venv


def mlflow_version(venv: Path = VENV) -> str:
    out = subprocess.run([str(_python(venv)), "-c", "import mlflow; print(mlflow.__version__)"],
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.strip()


def save_model(venv: Path, out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([str(_python(venv)), str(HERE / "_mlflow_save.py"), str(out)], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"saving the MLflow model failed:\n{proc.stderr[-2000:]}")


Measure = Callable[[int, str, bytes, int, float], tuple[LoadResult, CpuUse]]  # pid, url, body, conns, secs


def measure_mlflow(workdir: Path, body: bytes, connections: int, duration: float, warmup: float,
                   measure: Measure, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Save, serve (one uvicorn worker, --env-manager local), measure, stop. Returns figures."""
    venv = ensure_venv(say=say)
    model_dir = workdir / "mlflow-model"
    save_model(venv, model_dir)
    port = servers.free_port()
    cmd = [str(venv / "bin" / "mlflow"), "models", "serve", "-m", str(model_dir), "--env-manager", "local",
           "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    with servers.running("mlflow", cmd, env, port, workdir) as server:
        cold_start = servers.wait_ready(server, "/ping", timeout_s=180)
        url = server.base + "/invocations"
        if warmup > 0:
            measure(server.proc.pid, url, body, connections, warmup)
        result, cpu = measure(server.proc.pid, url, body, connections, duration)
        rss = servers.peak_rss(server.proc.pid)
    return {"version": mlflow_version(venv), "command": " ".join(cmd), "cold_start_s": cold_start,
            "result": result, "cpu": cpu, "rss_bytes": sum(rss.values()), "rss_by_pid": rss}

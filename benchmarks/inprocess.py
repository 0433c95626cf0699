"""The in-process floor: what one prediction costs without HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results import Timing


def time_calls(name: str, fn: Callable[[], object], calls: int, max_seconds: float = 5.0) -> Timing:
    """Call `fn` up to `calls` times (and at most `max_seconds`), after a short warm-up."""
    for _ in range(min(50, calls)):
        fn()
    samples: list[int] = []
    deadline = time.perf_counter() + max_seconds
    clock = time.perf_counter_ns
    for _ in range(calls):
        started = clock()
        fn()
        samples.append(clock() - started)
        if time.perf_counter() > deadline:
            break
    return Timing.of(name, samples)


def _onnx_session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # as model.predictor.OnnxPredictor does
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def measure_inprocess(bundle_dir: Path, one_row: list[float], rows: list[list[float]], calls: int,
                      body_1: bytes, body_100: bytes, with_sklearn: bool = True) -> list[Timing]:
    from container.runtime import contracts
    from model.bundle import load_bundle
    from model.scoring import Scorer

    scorer = Scorer(load_bundle(bundle_dir))
    X1 = scorer.encoder.encode([one_row])
    X100 = scorer.encoder.encode(rows)
    session = _onnx_session(scorer.bundle.model_path)
    name = session.get_inputs()[0].name
    dtype = np.float64 if "double" in session.get_inputs()[0].type else np.float32
    x1, x100 = X1.astype(dtype), X100.astype(dtype)
    out: list[Timing] = [
        time_calls("Scorer.score, 1 row", lambda: scorer.score([one_row]), calls),
        time_calls("Scorer.score, 100 rows", lambda: scorer.score(rows), calls),
        time_calls("  of which RowEncoder.encode, 1 row", lambda: scorer.encoder.encode([one_row]), calls),
        time_calls("  of which RowEncoder.encode, 100 rows", lambda: scorer.encoder.encode(rows), calls),
        time_calls("contracts.invocations (JSON in/out), 1 row",
                   lambda: contracts.invocations(scorer, body_1, "application/json", None), calls),
        time_calls("contracts.invocations (JSON in/out), 100 rows",
                   lambda: contracts.invocations(scorer, body_100, "application/json", None), calls),
        time_calls("onnxruntime session.run, 1 row", lambda: session.run(None, {name: x1}), calls),
        time_calls("onnxruntime session.run, 100 rows", lambda: session.run(None, {name: x100}), calls),
    ]
    if with_sklearn:
        from model.train import train_example

        estimator = train_example().estimator
        out.append(time_calls("scikit-learn estimator.predict, 1 row", lambda: estimator.predict(X1), calls))
        out.append(time_calls("scikit-learn estimator.predict, 100 rows", lambda: estimator.predict(X100),
                              calls))
    return out

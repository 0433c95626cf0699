"""Loading a bundle's model file and predicting: ONNX Runtime, or skops with explicit trusted types.

No pickle is ever loaded here. scikit-learn and skops are imported only for skops bundles, so an
ONNX-only serving image needs neither.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from model.errors import BundleError


class Predictor(Protocol):
    def predict(self, X: np.ndarray) -> np.ndarray: ...


class OnnxPredictor:
    """ONNX Runtime on one thread. A single row, the common real-time request, goes through input and
    output buffers bound once (IOBinding): half the cost of `run`, which converts and allocates on
    every call. The buffers are shared, so that path is taken under a lock and only when it is free."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One request is tiny: thread pools cost more than they save, and workers are processes.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise BundleError(f"{path.name}: not a loadable ONNX model ({exc})") from exc
        inp = self._session.get_inputs()[0]
        out = self._session.get_outputs()[0]
        self._input_name = inp.name
        self._dtype = np.float64 if "double" in inp.type else np.float32
        self._output_name = out.name
        # The fast path needs fixed shapes: (batch, features) in, one value per row out.
        width = inp.shape[1] if len(inp.shape) == 2 and isinstance(inp.shape[1], int) else None
        result_shape = tuple(d if isinstance(d, int) else 1 for d in out.shape)
        out_dtype = np.float64 if "double" in out.type else np.float32
        self._row: np.ndarray | None = None
        if width is not None and result_shape in ((1,), (1, 1)):
            self._row = np.zeros((1, width), dtype=self._dtype)
            self._result = np.zeros(result_shape, dtype=out_dtype)
            self._binding = self._session.io_binding()
            self._binding.bind_ortvalue_input(self._input_name, ort.OrtValue.ortvalue_from_numpy(self._row))
            self._binding.bind_ortvalue_output(self._output_name, ort.OrtValue.ortvalue_from_numpy(self._result))
            self._lock = threading.Lock()

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self._row is not None and X.shape == self._row.shape and self._lock.acquire(blocking=False):
            try:
                self._row[...] = X
                # No RunOptions: onnxruntime probes them for a config key through a C++ exception.
                self._session.run_with_iobinding(self._binding)
                return self._result.astype(np.float64).reshape(-1)  # a copy: the buffer is reused
            finally:
                self._lock.release()
        out = self._session.run([self._output_name], {self._input_name: X.astype(self._dtype, copy=False)})[0]
        return np.asarray(out, dtype=np.float64).reshape(-1)


class SkopsPredictor:
    def __init__(self, path: Path, trusted_types: list[str]) -> None:
        try:
            import skops.io as sio
        except ImportError as exc:
            raise BundleError(
                f"{path.name} is a skops model but skops/scikit-learn are not installed "
                "(build the image with RUNTIME_EXTRAS=skops)"
            ) from exc
        try:
            untrusted = sio.get_untrusted_types(file=str(path))
        except Exception as exc:
            raise BundleError(f"{path.name}: not a readable skops file ({exc})") from exc
        unexpected = sorted(set(untrusted) - set(trusted_types))
        if unexpected:
            raise BundleError(
                f"{path.name}: contains types not listed as trusted in bundle.json: {', '.join(unexpected)}"
            )
        self._estimator = sio.load(str(path), trusted=trusted_types)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self._estimator.predict(X), dtype=np.float64).reshape(-1)


def load_predictor(path: Path, fmt: str, trusted_types: list[str] | None = None) -> Predictor:
    if fmt == "onnx":
        return OnnxPredictor(path)
    if fmt == "skops":
        return SkopsPredictor(path, trusted_types or [])
    raise BundleError(f"bundle.json: unknown model format {fmt!r}; expected 'onnx' or 'skops'")

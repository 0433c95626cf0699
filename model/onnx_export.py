"""Converting a fitted scikit-learn estimator to ONNX and proving both agree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import ModelProto

from model.errors import PackagingError

# Trees and linear models in double precision agree with scikit-learn to ~1e-9 relative; the
# tolerance leaves room for float32 operators some converters still use.
RTOL = 1e-4
ATOL = 1e-2


@dataclass(frozen=True)
class Parity:
    rows: int
    max_abs_error: float
    max_rel_error: float
    worst_row: int
    rtol: float = RTOL
    atol: float = ATOL

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "max_abs_error": self.max_abs_error, "max_rel_error": self.max_rel_error,
                "worst_row": self.worst_row, "rtol": self.rtol, "atol": self.atol}


def to_onnx_bytes(estimator: Any, n_features: int) -> bytes:
    """Raise PackagingError when the estimator cannot be expressed in ONNX."""
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        onx = convert_sklearn(
            estimator, initial_types=[("input", FloatTensorType([None, n_features]))],
            target_opset={"": 17, "ai.onnx.ml": 3},
        )
    except Exception as exc:  # skl2onnx raises many types for unsupported models
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise PackagingError(f"ONNX cannot express this estimator: {type(exc).__name__}: {first_line}") from exc
    assert isinstance(onx, ModelProto)
    onx.graph.name = "modelstage"  # skl2onnx names the graph with a random uuid; bundles must be reproducible
    return onx.SerializeToString()


def check_parity(expected: np.ndarray, actual: np.ndarray) -> Parity:
    abs_err = np.abs(actual - expected)
    rel_err = abs_err / np.maximum(np.abs(expected), 1e-12)
    worst = int(np.argmax(abs_err - (ATOL + RTOL * np.abs(expected))))
    parity = Parity(rows=len(expected), max_abs_error=float(abs_err.max()), max_rel_error=float(rel_err.max()),
                    worst_row=worst)
    if not np.all(abs_err <= ATOL + RTOL * np.abs(expected)):
        raise PackagingError(
            f"ONNX and scikit-learn predictions disagree: worst row {worst}: scikit-learn {expected[worst]!r}, "
            f"ONNX {actual[worst]!r} (abs error {abs_err[worst]:.6g}; allowed {ATOL} + {RTOL} x |prediction|)"
        )
    return parity

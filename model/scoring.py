"""The scoring function: rows in, predictions out, schema enforced. The one copy of this logic."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.bundle import Bundle
from model.predictor import Predictor, load_predictor
from model.schema import RowEncoder


class Scorer:
    def __init__(self, bundle: Bundle, predictor: Predictor | None = None) -> None:
        self.bundle = bundle
        self.encoder = RowEncoder(bundle.schema)
        self.predictor = predictor or load_predictor(
            bundle.model_path, bundle.model_format, bundle.trusted_types
        )
        self.output_name = bundle.schema.output.name

    def predict_matrix(self, X: np.ndarray) -> list[float]:
        return [round(v, 2) for v in self.predictor.predict(X).tolist()]  # cents, as plain floats

    def score(self, rows: Sequence[object]) -> list[float]:
        """Validate `rows` (raises SchemaError naming the row and field) and predict."""
        return self.predict_matrix(self.encoder.encode(rows))


def load_scorer(path: str) -> Scorer:
    from model.bundle import load_bundle

    return Scorer(load_bundle(path))

"""What `modelstage train` writes: the fitted estimator (skops, not pickle), reference rows, a summary."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.dataset import FEATURES, TARGET
from model.train import TrainedModel


@dataclass(frozen=True)
class TrainingOutput:
    model: Path
    reference: Path
    summary: Path
    metrics: dict[str, float]
    features: tuple[str, ...]


def write_training_output(trained: TrainedModel, out: Path) -> TrainingOutput:
    import skops.io as sio

    out.mkdir(parents=True, exist_ok=True)
    model = out / "model.skops"
    sio.dump(trained.estimator, str(model))
    reference = out / "reference.csv"
    rows = np.column_stack([trained.X_test, trained.y_test])
    lines = [",".join([*FEATURES, TARGET])]
    lines += [",".join("" if np.isnan(v) else f"{v:g}" for v in row) for row in rows]
    reference.write_text("\n".join(lines) + "\n")
    summary = out / "train.json"
    summary.write_text(json.dumps({"features": list(FEATURES), "target": TARGET, "metrics": trained.metrics},
                                  indent=2) + "\n")
    return TrainingOutput(model, reference, summary, trained.metrics, FEATURES)

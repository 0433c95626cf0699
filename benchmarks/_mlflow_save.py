"""Run INSIDE the MLflow venv (PYTHONPATH=repo root): save the example model as an MLflow model.

`python _mlflow_save.py OUT_DIR` trains the same seeded example pipeline modelstage packages and
saves it with `mlflow.sklearn.save_model`, with a tensor signature (float64, (-1, 8)) so that
`{"inputs": [[...]]}` requests skip the DataFrame path, MLflow's fastest input.
"""

from __future__ import annotations

import sys
from importlib import metadata

import mlflow.sklearn  # pyright: ignore[reportMissingImports]  (runs in the MLflow venv)
import skops.io as sio
from mlflow.models import infer_signature  # pyright: ignore[reportMissingImports]

from model.train import train_example


def main(out: str) -> None:
    trained = train_example()
    X = trained.X_train
    signature = infer_signature(X, trained.estimator.predict(X))
    # MLflow 3 saves scikit-learn models with skops by default and wants the non-default types named;
    # we trained this model ourselves, so trust exactly what skops reports.
    trusted = sio.get_untrusted_types(data=sio.dumps(trained.estimator))
    mlflow.sklearn.save_model(trained.estimator, out, signature=signature, skops_trusted_types=trusted,
                              pip_requirements=[f"scikit-learn=={metadata.version('scikit-learn')}"])


if __name__ == "__main__":
    main(sys.argv[1])

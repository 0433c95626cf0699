"""How a bundle's model is trained again: the unfitted estimator for `modelstage retrain`.

A bundle holds the fitted model as ONNX (or skops), not the estimator that produced it, so packaging
records in bundle.json "training" how to rebuild it:
  - the example: {"recipe": "house-prices-gbr/1"}, model/train.py example_pipeline;
  - a user's model: {"estimator": {"class", "params_sha256", "file_sha256"}}; retrain then needs the
    original file again (--model) and clones it, after checking it is the same model (same file, or
    same class and parameters). Nothing is unpickled that the user did not pass explicitly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from model.errors import ModelstageError
from model.train import example_pipeline

EXAMPLE_RECIPE = "house-prices-gbr/1"
DEFAULT_METRIC = "rmse"


class RetrainError(ModelstageError):
    """Retraining cannot start or its input is unusable (exit 2)."""


RECIPES: dict[str, Callable[[], Any]] = {EXAMPLE_RECIPE: example_pipeline}


def _qualname(obj: Any) -> str:
    kind = obj if isinstance(obj, type) else type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def _param_value(value: Any) -> Any:
    """A stable JSON stand-in for a parameter: repr() of objects can hold memory addresses."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_param_value(v) for v in value]
    if hasattr(value, "get_params"):
        return _qualname(value)  # nested estimators' own parameters appear as "step__param" keys
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if callable(value) and name:
        return f"{getattr(value, '__module__', None) or ''}.{name}"
    return _qualname(value)


def params_sha256(estimator: Any) -> str:
    params = estimator.get_params(deep=True)
    text = json.dumps({k: _param_value(v) for k, v in params.items()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def recipe_training(recipe: str, target: str | None) -> dict[str, Any]:
    return {"recipe": recipe, "target": target, "metric": DEFAULT_METRIC}


def estimator_training(estimator: Any, file_sha256: str, target: str | None) -> dict[str, Any] | None:
    """None for an estimator without get_params (not scikit-learn compatible: it cannot be cloned)."""
    if not hasattr(estimator, "get_params"):
        return None
    return {"estimator": {"class": _qualname(estimator), "params_sha256": params_sha256(estimator),
                          "file_sha256": file_sha256},
            "target": target, "metric": DEFAULT_METRIC}


def _check_same_model(recorded: Mapping[str, Any], estimator: Any, file_sha256: str, model_file: Path) -> None:
    if recorded.get("file_sha256") == file_sha256:
        return
    if recorded.get("class") == _qualname(estimator) and recorded.get("params_sha256") == params_sha256(estimator):
        return  # the same model saved again (a different file, the same estimator)
    raise RetrainError(f"--model {model_file}: not the model this bundle was packaged from (bundle.json records a "
                       f"{recorded.get('class')} from a file with sha256 {str(recorded.get('file_sha256'))[:12]}..., "
                       f"this is a {_qualname(estimator)} with sha256 {file_sha256[:12]}... and other parameters); "
                       "pass the original file")


def unfitted_estimator(training: Mapping[str, Any] | None, model_file: Path | None,
                       load: Callable[[Path], Any], file_sha256: Callable[[Path], str]) -> tuple[Any, str]:
    """-> (an unfitted clone of the bundle's pipeline, where it came from). `load` reads the user's file
    (model/package.py: joblib or skops); it is called only for a file the user passed."""
    from sklearn.base import clone

    if model_file is None:
        recipe = (training or {}).get("recipe")
        if isinstance(recipe, str) and recipe in RECIPES:
            return RECIPES[recipe](), f"recipe {recipe}"
        if recipe is not None:
            raise RetrainError(f"bundle.json: training recipe {recipe!r} is unknown to this modelstage; "
                               f"expected one of {sorted(RECIPES)}, or pass --model ORIGINAL.joblib|.skops")
        if training and "estimator" in training:
            raise RetrainError(f"this bundle was packaged from your own {training['estimator'].get('class')}; "
                               "pass --model ORIGINAL.joblib|.skops (the file you packaged) to retrain it")
        raise RetrainError("bundle.json has no 'training' entry (packaged before `modelstage retrain`), so the "
                           "pipeline is unknown; pass --model ORIGINAL.joblib|.skops, or package it again")
    estimator = load(model_file)
    if not hasattr(estimator, "get_params"):
        raise RetrainError(f"--model {model_file}: a {type(estimator).__name__} is not a scikit-learn estimator "
                           "(no get_params), so it cannot be cloned and trained again")
    recorded = (training or {}).get("estimator")
    if isinstance(recorded, Mapping):
        _check_same_model(recorded, estimator, file_sha256(model_file), model_file)
        source = f"--model {model_file.name} ({_qualname(estimator)}, checked against bundle.json)"
    else:
        source = f"--model {model_file.name} ({_qualname(estimator)}; bundle.json has no estimator to check it against)"
    return clone(estimator), source

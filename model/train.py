"""Training of the example house-price regressor (scikit-learn Pipeline, seeded)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from model.dataset import FEATURES, Dataset, make_house_prices
from model.schema import Feature, Output, Schema

SEED = 42


@dataclass
class TrainedModel:
    estimator: Any  # a fitted scikit-learn estimator
    schema: Schema
    X_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    metrics: dict[str, float]


# Allowed ranges are wider than the training data (a real house may be bigger than any we saw)
# but refuse what cannot be a house. Defaults fill features a request leaves out.
_FEATURE_FACTS: dict[str, tuple[str, float, float, str, str, str]] = {
    # name: (dtype, min, max, nan_policy, unit, description)
    "living_area_sqft": ("float", 100, 30_000, "reject", "sq ft", "Finished living area"),
    "bedrooms": ("integer", 0, 20, "reject", "rooms", "Number of bedrooms"),
    "bathrooms": ("float", 0, 15, "reject", "rooms", "Number of bathrooms (half baths count 0.5)"),
    "lot_size_sqft": ("float", 0, 2_000_000, "impute", "sq ft", "Lot size; may be missing"),
    "year_built": ("integer", 1700, 2100, "impute", "year", "Year of construction; may be missing"),
    "garage_spaces": ("integer", 0, 10, "reject", "cars", "Garage capacity"),
    "condition": ("integer", 1, 5, "reject", "grade", "Overall condition, 1 (poor) to 5 (excellent)"),
    "distance_to_city_km": ("float", 0, 500, "reject", "km", "Distance to the city centre"),
}


def example_schema(X: np.ndarray) -> Schema:
    """The example's schema; defaults are the training medians (documented in the bundle)."""
    features = []
    for i, name in enumerate(FEATURES):
        dtype, lo, hi, nan_policy, unit, description = _FEATURE_FACTS[name]
        median = float(np.nanmedian(X[:, i]))
        features.append(Feature(
            name=name, dtype=dtype, minimum=lo, maximum=hi, nan_policy=nan_policy,  # type: ignore[arg-type]
            default=round(median) if dtype == "integer" else round(median, 1), unit=unit, description=description,
        ))
    return Schema(features=tuple(features), output=Output(name="price", unit="USD", description="Predicted sale price"))


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    err = y_pred - y_true
    ss_res = float(np.sum(err**2))
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "mae": round(float(np.mean(np.abs(err))), 2),
        "rmse": round(float(np.sqrt(np.mean(err**2))), 2),
        "r2": round(1.0 - ss_res / ss_tot, 6),
        "mape": round(float(np.mean(np.abs(err) / np.abs(y_true))), 6),
    }


def split(data: Dataset, test_fraction: float = 0.2, seed: int = SEED) -> tuple[np.ndarray, ...]:
    idx = np.random.default_rng(seed).permutation(len(data.y))
    n_test = int(len(idx) * test_fraction)
    test, train = idx[:n_test], idx[n_test:]
    return data.X[train], data.X[test], data.y[train], data.y[test]


def example_pipeline(seed: int = SEED) -> Any:
    """The example's unfitted pipeline (also what `modelstage retrain` trains again: model/challenger.py)."""
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    return Pipeline([
        ("impute", SimpleImputer(strategy="median")),
        ("regress", GradientBoostingRegressor(n_estimators=150, max_depth=4, learning_rate=0.08,
                                              subsample=0.9, random_state=seed)),
    ])


def train_example(n_rows: int = 4000, seed: int = SEED) -> TrainedModel:
    data = make_house_prices(n_rows=n_rows, seed=seed)
    X_train, X_test, y_train, y_test = split(data, seed=seed)
    pipeline = example_pipeline(seed)
    pipeline.fit(X_train, y_train)
    metrics = regression_metrics(y_test, pipeline.predict(X_test))
    return TrainedModel(estimator=pipeline, schema=example_schema(X_train), X_train=X_train,
                        X_test=X_test, y_test=y_test, metrics=metrics)

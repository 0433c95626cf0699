"""A realistic synthetic house-price dataset, generated in code and seeded.

Prices follow a hedonic model: a base price per square foot that depends on location, age and
condition, plus contributions of rooms, lot and garage, with multiplicative noise. Missing values
are injected into the two fields that real listings often omit (lot size, year built).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Order matters: the first three are the seed's positional request `[living_area, bedrooms, bathrooms]`.
FEATURES: tuple[str, ...] = (
    "living_area_sqft",
    "bedrooms",
    "bathrooms",
    "lot_size_sqft",
    "year_built",
    "garage_spaces",
    "condition",
    "distance_to_city_km",
)
TARGET = "price"


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray  # shape (n, len(FEATURES)), float64, NaN where missing
    y: np.ndarray  # shape (n,), price in USD
    feature_names: tuple[str, ...] = FEATURES


def make_house_prices(n_rows: int = 4000, seed: int = 42, missing_rate: float = 0.03) -> Dataset:
    """Generate `n_rows` houses with prices in USD."""
    rng = np.random.default_rng(seed)
    living = np.clip(rng.lognormal(mean=np.log(1800), sigma=0.35, size=n_rows), 450, 9000).round()
    bedrooms = np.clip(np.round(living / 650 + rng.normal(0, 0.7, n_rows)), 1, 8)
    bathrooms = np.clip(np.round((bedrooms * 0.6 + rng.normal(0.4, 0.5, n_rows)) * 2) / 2, 1, 6)
    lot = np.clip(living * rng.lognormal(np.log(3.0), 0.5, n_rows), 1000, 200_000).round()
    year = np.clip(np.round(rng.normal(1985, 22, n_rows)), 1880, 2025)
    garage = np.clip(np.round(rng.normal(1.4, 0.9, n_rows)), 0, 4)
    condition = rng.choice([1, 2, 3, 4, 5], size=n_rows, p=[0.05, 0.15, 0.45, 0.25, 0.10]).astype(float)
    distance = np.clip(rng.gamma(shape=2.0, scale=9.0, size=n_rows), 0.5, 120).round(1)

    age = 2026 - year
    per_sqft = 210 * np.exp(-distance / 60) * (1 - np.minimum(age, 100) / 400) * (0.85 + 0.06 * condition)
    price = (
        living * per_sqft
        + 9_000 * bathrooms
        + 4_000 * bedrooms
        + 1.8 * np.sqrt(lot) * 100
        + 11_000 * garage
        + 25_000
    ) * rng.lognormal(0, 0.08, n_rows)

    X = np.column_stack([living, bedrooms, bathrooms, lot, year, garage, condition, distance]).astype(np.float64)
    for col in (FEATURES.index("lot_size_sqft"), FEATURES.index("year_built")):
        X[rng.random(n_rows) < missing_rate, col] = np.nan
    return Dataset(X=X, y=price.round(-2))

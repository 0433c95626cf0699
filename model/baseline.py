"""Per-feature baseline statistics for drift: quantile bin edges and counts, and PSI against them.

The edges are deciles of the training data; the first and last edges are open (-inf, +inf) when
scoring new data, so every finite value lands in a bin. Missing values are counted apart.

`quantiles` is a sketch of the whole distribution: KS_POINTS evenly spaced quantiles of the training
values, for the two-sample Kolmogorov-Smirnov test (model/drift_stats.py). Its empirical CDF is within
1/(KS_POINTS - 1) of the training data's, so the KS distance is too; no training row is stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

N_BINS = 10
KS_POINTS = 1001  # quantiles 0, 0.001, ..., 1


@dataclass(frozen=True)
class FeatureBaseline:
    name: str
    edges: tuple[float, ...]  # N_BINS + 1 quantile edges
    counts: tuple[int, ...]  # N_BINS counts
    missing: int
    mean: float
    std: float
    minimum: float
    maximum: float
    quantiles: tuple[float, ...] = ()  # KS_POINTS quantiles; empty in bundles written before they existed

    @property
    def rows(self) -> int:
        """Finite training values the statistics were made from."""
        return int(sum(self.counts))

    @property
    def missing_rate(self) -> float:
        total = self.rows + self.missing
        return self.missing / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "edges": list(self.edges), "counts": list(self.counts), "missing": self.missing,
            "mean": self.mean, "std": self.std, "min": self.minimum, "max": self.maximum,
            "quantiles": list(self.quantiles),
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> FeatureBaseline:
        return FeatureBaseline(
            name=str(d["name"]), edges=tuple(float(e) for e in d["edges"]),
            counts=tuple(int(c) for c in d["counts"]), missing=int(d["missing"]),
            mean=float(d["mean"]), std=float(d["std"]), minimum=float(d["min"]), maximum=float(d["max"]),
            quantiles=tuple(float(q) for q in d.get("quantiles", ())),
        )


def bin_counts(values: np.ndarray, edges: Sequence[float] | np.ndarray) -> np.ndarray:
    inner = np.asarray(edges[1:-1], dtype=np.float64)
    idx = np.searchsorted(inner, values, side="right")
    return np.bincount(idx, minlength=len(edges) - 1)


def describe(name: str, column: np.ndarray) -> FeatureBaseline:
    finite = column[~np.isnan(column)]
    edges = np.quantile(finite, np.linspace(0.0, 1.0, N_BINS + 1))
    counts = bin_counts(finite, edges)
    quantiles = np.quantile(finite, np.linspace(0.0, 1.0, KS_POINTS))
    return FeatureBaseline(
        name=name, edges=tuple(round(float(e), 6) for e in edges), counts=tuple(int(c) for c in counts),
        missing=int(column.size - finite.size), mean=round(float(finite.mean()), 6),
        std=round(float(finite.std()), 6), minimum=float(finite.min()), maximum=float(finite.max()),
        quantiles=tuple(round(float(q), 6) for q in quantiles),
    )


def describe_matrix(names: Sequence[str], X: np.ndarray) -> list[FeatureBaseline]:
    return [describe(name, X[:, i]) for i, name in enumerate(names)]


def psi_from_counts(expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray) -> float:
    """PSI = sum((a - e) * ln(a / e)) over the bins' proportions; an empty bin counts as 0.01% so the
    logarithm stays finite (0 = same distribution)."""
    e_counts = np.asarray(expected, dtype=np.float64)
    a_counts = np.asarray(actual, dtype=np.float64)
    eps = 1e-4
    e = np.maximum(e_counts / max(e_counts.sum(), 1.0), eps)
    a = np.maximum(a_counts / max(a_counts.sum(), 1.0), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def psi(baseline: FeatureBaseline, column: np.ndarray) -> float:
    """Population stability index of `column` against the baseline bins (0 = same distribution)."""
    finite = column[~np.isnan(column)]
    if finite.size == 0:
        return 0.0
    return psi_from_counts(baseline.counts, bin_counts(finite, baseline.edges))

"""The statistics of a drift check, each for one column against one baseline (model/baseline.py).

- PSI over the baseline's decile bins (model/baseline.py `psi`).
- The two-sample Kolmogorov-Smirnov test: the distance D is the largest gap between the two empirical
  CDFs, computed here as scipy's `ks_2samp` does; the p-value is scipy's asymptotic one (`kstwo`),
  for the baseline's real row count. Against a baseline, the training side is its quantile sketch,
  so D is within 1/(KS_POINTS - 1) of D against the training rows themselves.
- Missing-value rate, and the share of values outside the schema's [minimum, maximum].

scipy comes with scikit-learn (the `train` extra); it is imported only for the p-value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.baseline import FeatureBaseline, bin_counts, psi_from_counts


@dataclass(frozen=True)
class KsResult:
    distance: float  # D, in [0, 1]
    p_value: float


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """max |F_a(x) - F_b(x)| over all values of both samples (ties handled as in scipy)."""
    a = np.sort(a)
    b = np.sort(b)
    both = np.concatenate([a, b])
    gap = np.searchsorted(a, both, side="right") / a.size - np.searchsorted(b, both, side="right") / b.size
    return float(np.max(np.abs(gap)))


def ks_p_value(distance: float, n: int, m: int) -> float:
    """Two-sided asymptotic p-value of D for samples of n and m values (scipy's method='asymp')."""
    from scipy.stats import distributions

    big, small = sorted((float(n), float(m)), reverse=True)
    effective = big * small / (big + small)
    return float(distributions.kstwo.sf(distance, np.round(effective)))


def ks_two_sample(a: np.ndarray, b: np.ndarray) -> KsResult:
    d = ks_distance(a, b)
    return KsResult(d, ks_p_value(d, a.size, b.size))


def ks_against(baseline: FeatureBaseline, current: np.ndarray) -> KsResult | None:
    """KS of the finite `current` values against the baseline's sketch; None when the bundle has no
    sketch (written before there was one) or there is nothing to compare."""
    finite = current[np.isfinite(current)]
    if not baseline.quantiles or finite.size == 0 or baseline.rows == 0:
        return None
    d = ks_distance(np.asarray(baseline.quantiles, dtype=np.float64), finite)
    return KsResult(d, ks_p_value(d, baseline.rows, finite.size))


def proportions(baseline: FeatureBaseline, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The baseline's and the current finite values' share per baseline bin (for plots and PSI)."""
    expected = np.asarray(baseline.counts, dtype=np.float64)
    finite = current[np.isfinite(current)]
    actual = bin_counts(finite, baseline.edges).astype(np.float64)
    return expected / max(expected.sum(), 1.0), actual / max(actual.sum(), 1.0)


def psi_against(baseline: FeatureBaseline, current: np.ndarray) -> float | None:
    finite = current[np.isfinite(current)]
    if finite.size == 0:
        return None
    return psi_from_counts(baseline.counts, bin_counts(finite, baseline.edges))


def missing_rate(current: np.ndarray) -> float:
    return float(np.mean(~np.isfinite(current))) if current.size else 0.0


def out_of_range_rate(current: np.ndarray, minimum: float, maximum: float) -> float:
    """Share of the finite values outside [minimum, maximum] (what the runtime would refuse)."""
    finite = current[np.isfinite(current)]
    if finite.size == 0:
        return 0.0
    return float(np.mean((finite < minimum) | (finite > maximum)))

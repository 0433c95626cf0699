"""The drift statistics against reference implementations: scipy's two-sample KS test, and PSI on a
worked example."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from model.baseline import KS_POINTS, describe, psi, psi_from_counts
from model.drift_stats import (
    ks_against,
    ks_distance,
    ks_two_sample,
    missing_rate,
    out_of_range_rate,
    proportions,
)


def _scipy_ks(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    result: Any = stats.ks_2samp(a, b, method="asymp")
    return float(result.statistic), float(result.pvalue)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shift", [0.0, 0.05, 0.5])
def test_ks_matches_scipy_on_continuous_samples(seed: int, shift: float) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, 3000)
    b = rng.normal(shift, 1.2, 1700)
    mine = ks_two_sample(a, b)
    d, p = _scipy_ks(a, b)
    assert mine.distance == pytest.approx(d, abs=1e-12)
    assert mine.p_value == pytest.approx(p, rel=1e-9, abs=1e-300)


def test_ks_matches_scipy_with_ties() -> None:
    """Integer features (bedrooms, condition) have many ties: the CDFs are compared after each value."""
    rng = np.random.default_rng(5)
    a = rng.integers(1, 6, 4000).astype(np.float64)
    b = rng.integers(1, 5, 900).astype(np.float64)
    d, p = _scipy_ks(a, b)
    mine = ks_two_sample(a, b)
    assert mine.distance == pytest.approx(d, abs=1e-12)
    assert mine.p_value == pytest.approx(p, rel=1e-9, abs=1e-300)
    assert ks_distance(a, a) == 0.0


def test_ks_against_the_baseline_sketch_is_within_its_bound_of_scipy_on_the_training_rows() -> None:
    rng = np.random.default_rng(11)
    training = rng.lognormal(7, 0.4, 20_000)
    baseline = describe("area", training)
    assert len(baseline.quantiles) == KS_POINTS and baseline.rows == training.size
    bound = 1 / (KS_POINTS - 1) + 1e-4  # the sketch's CDF error, plus the 6-digit rounding of its values
    for current in (rng.lognormal(7, 0.4, 2000), rng.lognormal(7.1, 0.4, 2000), training[:500] * 1.5):
        d, _ = _scipy_ks(training, current)
        mine = ks_against(baseline, current)
        assert mine is not None
        assert abs(mine.distance - d) <= bound


def test_ks_is_absent_without_a_sketch_or_values() -> None:
    baseline = describe("x", np.arange(100, dtype=np.float64))
    old = type(baseline)(**{**baseline.__dict__, "quantiles": ()})
    assert ks_against(old, np.arange(10, dtype=np.float64)) is None
    assert ks_against(baseline, np.array([np.nan, np.nan])) is None


def test_psi_on_a_worked_example() -> None:
    """Four bins of 25% each against 10/20/30/40% (the proportions of the example in KAscore's psi()
    reference, after Siddiqi 2017). By hand: -0.15 ln 0.4 - 0.05 ln 0.8 + 0.05 ln 1.2 + 0.15 ln 1.6
    = 0.137444 + 0.011157 + 0.009116 + 0.070501 = 0.228218."""
    assert psi_from_counts([250, 250, 250, 250], [20, 40, 60, 80]) == pytest.approx(0.228218, abs=1e-6)
    assert psi_from_counts([25, 25, 25, 25], [25, 25, 25, 25]) == 0.0


def test_psi_of_a_column_uses_the_baseline_bins_with_open_ends() -> None:
    rng = np.random.default_rng(3)
    baseline = describe("x", rng.uniform(0, 1, 10_000))
    assert psi(baseline, rng.uniform(0, 1, 10_000)) < 0.01
    # everything above the last edge lands in the last bin: 100% against 10%
    expected = (1 - 0.1) * math.log(1 / 0.1) + 9 * (1e-4 - 0.1) * math.log(1e-4 / 0.1)
    assert psi(baseline, np.full(500, 5.0)) == pytest.approx(expected, rel=1e-3)
    base, cur = proportions(baseline, np.full(500, 5.0))
    assert cur[-1] == 1.0 and base.sum() == pytest.approx(1.0)


def test_missing_and_out_of_range_rates() -> None:
    values = np.array([1.0, np.nan, 5.0, 50.0, -1.0, np.nan, 3.0, 10.0])
    assert missing_rate(values) == 0.25
    assert out_of_range_rate(values, 0.0, 10.0) == pytest.approx(2 / 6)
    assert out_of_range_rate(np.array([np.nan]), 0.0, 1.0) == 0.0
    assert missing_rate(np.array([])) == 0.0

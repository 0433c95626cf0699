"""The strict exposition reader (tests/container/exposition.py) refuses what Prometheus would, so a
/metrics test that passes through it has checked the format; and the runtime's own output passes."""

from __future__ import annotations

import re

import numpy as np
import pytest

from container.runtime.drift_window import DriftWindow
from container.runtime.metrics import Metrics
from model.baseline import describe
from tests.container.exposition import parse

GOOD = """# HELP h A histogram.
# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="2"} 3
h_bucket{le="+Inf"} 3
h_sum 4.5
h_count 3
# TYPE g gauge
g{feature="a \\"quoted\\" \\\\ name"} 0.25
g{feature="b"} NaN
"""


def test_good_output_parses() -> None:
    families = parse(GOOD)
    assert families["h"].value("h_count") == 3
    assert families["g"].value(feature='a "quoted" \\ name') == 0.25


@pytest.mark.parametrize(("bad", "why"), [
    (GOOD.replace('h_bucket{le="2"} 3', 'h_bucket{le="2"} 0'), "not cumulative"),
    (GOOD.replace('h_bucket{le="+Inf"} 3', 'h_bucket{le="+Inf"} 4'), "!= _count"),
    (GOOD.replace('h_bucket{le="+Inf"} 3\n', ""), "no +Inf"),
    (GOOD.replace('{le="2"}', '{le="1"}'), "repeated series"),
    (GOOD.replace("g{feature=\"b\"} NaN", 'g{feature="b} 1'), "line 10"),
    (GOOD.replace("0.25", "0,25"), "line 9"),
    (GOOD + "# TYPE g gauge\n", "after the family's samples"),
    (GOOD + "h_sum 1\n", "not together"),
    (GOOD.rstrip("\n"), "end with a newline"),
    (GOOD.replace("# TYPE g gauge", "# TYPE g gauges"), "line 8"),
])
def test_bad_output_is_refused(bad: str, why: str) -> None:
    with pytest.raises(AssertionError, match=re.escape(why)):
        parse(bad)


def test_the_runtime_renders_valid_output_with_every_family() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=500)
    baseline = describe("x \"odd\" name", values)
    metrics = Metrics([0.0, 0.0, 1.0])  # a repeated bound (deciles of a discrete value) must not repeat le
    metrics.window = DriftWindow(100, [baseline], baseline)
    metrics.observe_request("invocations", 200, 0.002)
    metrics.observe_predictions([0.5] * 20 + [-1.0])
    X = np.where(rng.random((30, 1)) < 0.1, np.nan, rng.normal(size=(30, 1)))
    metrics.window.append(X, rng.normal(size=30).tolist())
    families = parse(metrics.render().decode())
    assert families["modelstage_prediction"].value("modelstage_prediction_count") == 21
    assert families["modelstage_prediction"].value("modelstage_prediction_bucket", le="0") == 1
    assert families["modelstage_drift_window_rows"].value() == 30
    assert families["modelstage_feature_missing_ratio"].value(feature=baseline.name) == np.mean(np.isnan(X))
    assert families["modelstage_feature_drift_psi"].type == "gauge"

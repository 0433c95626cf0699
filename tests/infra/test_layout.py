"""infra/layout.py: where a deployment's objects live in its artifact store, on every cloud."""

from __future__ import annotations

from infra.layout import Layout


def test_the_layout_is_content_addressed() -> None:
    layout = Layout(name="hp-dev", model="house-prices", archive_sha256="f" * 64)
    assert layout.version_prefix == f"models/house-prices/{'f' * 64}/"
    assert layout.archive_key == f"models/house-prices/{'f' * 64}/model.tar.gz"
    assert layout.metrics_key == f"models/house-prices/{'f' * 64}/metrics.json"
    assert layout.baseline_prefix == f"monitoring/hp-dev/baseline/{'f' * 64}/"
    assert (layout.capture_prefix, layout.reports_prefix) == ("datacapture/hp-dev/", "monitoring-reports/hp-dev/")

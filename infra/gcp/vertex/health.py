"""The canary's health check for production: the new deployed model's own online-prediction metrics,
read from Cloud Monitoring (`projects.timeSeries.list`) while it bakes, against the alert policies' thresholds.

Why metrics and not the alert policies' incidents: Cloud Monitoring has no public API that lists a policy's
open incidents, and the policies watch the whole endpoint, where the old model's 90 % of the traffic would
mask a bad canary. These reads are scoped to the canary's `deployed_model_id` (a label of Vertex's
prediction metrics [unverified against a live project]). A read that fails is reported as a problem: a
canary whose health cannot be seen is rolled back, not promoted.
"""

# pyright: strict

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from google.auth.credentials import Credentials

from infra.gcp.vertex.clients import VertexSettings, credentials, redact
from infra.gcp.vertex.deployment import BakeContext

RESOURCE = "aiplatform.googleapis.com/Endpoint"
LATENCY_METRIC = "aiplatform.googleapis.com/prediction/online/prediction_latencies"  # distribution, ms
RESPONSES_METRIC = "aiplatform.googleapis.com/prediction/online/response_count"  # label response_code
_MAX_PAGES = 20


@dataclass(frozen=True)
class MetricsHealthCheck:
    """`health_check` for a canary VertexDeployment: None while healthy, else the reason to roll back."""

    project: str
    latency_p99_ms: float
    error_rate_percent: float
    window_s: int = 300
    api_endpoint: str = "https://monitoring.googleapis.com"
    credentials: Callable[[], Credentials] | None = None  # tests; production: google.auth.default()
    timeout_s: float = 30.0

    def _filter(self, ctx: BakeContext, metric: str, extra: str = "") -> str:
        endpoint_id = ctx.endpoint.rsplit("/", 1)[-1]
        return (f'resource.type = "{RESOURCE}" AND resource.labels.endpoint_id = "{endpoint_id}" '
                f'AND metric.type = "{metric}" AND metric.labels.deployed_model_id = "{ctx.new_deployed_model_id}"'
                f"{extra}")

    def _values(self, session: Any, flt: str, aligner: str, reducer: str) -> list[float]:
        end = dt.datetime.now(dt.UTC)
        params: dict[str, str] = {
            "filter": flt, "interval.endTime": end.isoformat().replace("+00:00", "Z"),
            "interval.startTime": (end - dt.timedelta(seconds=self.window_s)).isoformat().replace("+00:00", "Z"),
            "aggregation.alignmentPeriod": f"{self.window_s}s", "aggregation.perSeriesAligner": aligner,
            "aggregation.crossSeriesReducer": reducer, "view": "FULL"}
        url = f"{self.api_endpoint.rstrip('/')}/v3/projects/{self.project}/timeSeries"
        values: list[float] = []
        for _page in range(_MAX_PAGES):
            response = session.get(url, params=params, timeout=self.timeout_s)
            if response.status_code != 200:
                raise RuntimeError(f"timeSeries.list answered {response.status_code}: {response.text[:300]}")
            body = cast(Mapping[str, Any], response.json())
            for series in body.get("timeSeries", []):
                for point in cast(Mapping[str, Any], series).get("points", []):
                    value = cast(Mapping[str, Any], cast(Mapping[str, Any], point).get("value", {}))
                    values.append(float(value.get("doubleValue", value.get("int64Value", 0))))
            token = body.get("nextPageToken")
            if not token:
                break
            params["pageToken"] = str(token)
        return values

    def __call__(self, ctx: BakeContext) -> str | None:
        from google.auth.transport.requests import AuthorizedSession

        creds = credentials(VertexSettings(credentials=self.credentials))
        who = f"deployed model {ctx.new_deployed_model_id}"
        try:
            with AuthorizedSession(creds) as session:
                p99 = self._values(session, self._filter(ctx, LATENCY_METRIC), "ALIGN_PERCENTILE_99", "REDUCE_MAX")
                failed = self._values(session, self._filter(
                    ctx, RESPONSES_METRIC, ' AND metric.labels.response_code = monitoring.regex.full_match("5.*")'),
                    "ALIGN_DELTA", "REDUCE_SUM")
                total = self._values(session, self._filter(ctx, RESPONSES_METRIC), "ALIGN_DELTA", "REDUCE_SUM")
        except Exception as exc:  # unseen health is a problem: roll back rather than promote
            token = getattr(creds, "token", None)
            return redact(f"could not read the metrics of {who}: {type(exc).__name__}: {exc}",
                          token if isinstance(token, str) else None)
        if p99 and max(p99) > self.latency_p99_ms:
            return (f"p99 latency of {who} was {max(p99):.0f} ms over the last {self.window_s}s "
                    f"(alert threshold {self.latency_p99_ms:g} ms)")
        if sum(total) > 0 and 100 * sum(failed) / sum(total) > self.error_rate_percent:
            return (f"{100 * sum(failed) / sum(total):.1f}% of the predictions of {who} failed with 5xx over the "
                    f"last {self.window_s}s (alert threshold {self.error_rate_percent:g}%)")
        return None

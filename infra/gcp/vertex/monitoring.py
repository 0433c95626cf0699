"""Drift monitoring of the deployed model, as a dynamic resource (`pulumi-python:dynamic/vertex:MonitoringJob`):
one Vertex AI v1 `ModelDeploymentMonitoringJob` on the endpoint, over `JobServiceClient` (REST).

pulumi-gcp has no monitoring job (hashicorp/terraform-provider-google#15303). The job samples the endpoint's
online predictions into BigQuery (`logging_sampling_strategy`) and, every `monitor_interval_hours`, compares
the distribution of each named feature in the latest serving window with the earlier serving windows
(`prediction_drift_detection_config`), alerting by email above `drift_threshold`. Drift detection needs no
training data. Skew detection (`training_prediction_skew_detection_config`) would compare serving data with a
*training dataset* (`training_dataset`: a BigQuery table, a GCS file or a Vertex dataset); the bundle ships
baseline *statistics*, not a training set, so skew detection is not used and `training_dataset` stays unset.
The analysis instance schema (`instance_schema_yaml`, uploaded by the stack next to the bundle) tells the
analysis which instance fields are numeric features.

- create is synchronous in v1 (no operation). It is idempotent: a job with the same display name on the same
  endpoint (an earlier, interrupted run made it) is adopted and brought to the inputs instead of a second one.
  A 409 while creating (a concurrent run got there between our list and our create) is looked up again the
  same way; with nothing to adopt it fails saying so (the fake answers 409 to a second job on an endpoint).
- The deployed model id, the thresholds and features, the interval, the sampling rate, the emails, the log
  TTL and the display name change in place (`update_model_deployment_monitoring_job` with an update mask of
  exactly the changed fields: a long-running operation, awaited). A blue/green swap of `VertexDeployment`
  changes its `deployed_model_id` output and so updates this job. The endpoint and the analysis schema URI
  (not in the API's list of updatable fields) replace, deleting the old job first: a second job with the
  same display name on the same endpoint would be adopted by the create and then deleted with the old one.
- delete awaits the delete operation. The v1 reference (`modelDeploymentMonitoringJobs.delete`) names no
  precondition and the high-level SDK's `ModelDeploymentMonitoringJob.delete()` deletes without pausing, so
  a running job is deleted as it is; only if the service answers FAILED_PRECONDITION is the job paused
  (`:pause`, not an operation) and the delete sent once more. A job already gone is done.
"""

# pyright: strict

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from infra.gcp.vertex.clients import Vertex, VertexConflict, VertexError, VertexNotFound, VertexSettings, region_of

REPLACE_KEYS = ("endpoint", "analysis_instance_schema_uri")  # not updatable in v1
# Input -> the field of the job it lives in (the update mask's path).
UPDATE_PATHS: dict[str, str] = {
    "display_name": "display_name",
    "deployed_model_id": "model_deployment_monitoring_objective_configs",
    "drift_thresholds": "model_deployment_monitoring_objective_configs",
    "monitor_interval_hours": "model_deployment_monitoring_schedule_config",
    "sample_rate": "logging_sampling_strategy",
    "alert_emails": "model_monitoring_alert_config",
    "log_ttl_days": "log_ttl",
}
UPDATE_KEYS = tuple(UPDATE_PATHS)
COMPARED_KEYS = REPLACE_KEYS + UPDATE_KEYS
OUTPUT_KEYS = ("job_name", "drift_thresholds")
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # how the engine passes a value not known at preview
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def instance_schema_yaml(feature_names: Sequence[str]) -> str:
    """The analysis instance schema Vertex expects for a tabular instance (an OpenAPI object): every feature a
    number, all of them required. Names are JSON-quoted, which YAML reads as the same strings."""
    names = list(dict.fromkeys(str(f) for f in feature_names))
    if not names:
        raise VertexError("instance_schema_yaml: no feature names")
    lines = ["type: object", "properties:"]
    lines += [f"  {json.dumps(n)}:\n    type: number" for n in names]
    lines += ["required:"] + [f"- {json.dumps(n)}" for n in names]
    return "\n".join(lines) + "\n"


def _thresholds(props: Mapping[str, Any]) -> dict[str, float]:
    given: Mapping[str, Any] | None = props.get("drift_thresholds")
    if given:  # an output (state, or read from the live job): what the job has
        return {str(k): float(v) for k, v in sorted(given.items())}
    features: Sequence[Any] = props.get("feature_names") or []
    threshold = float(props.get("drift_threshold") or 0.0)
    return {str(f): threshold for f in sorted({str(f) for f in features})}


def normalize(props: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs as compared by `diff`: defaults filled, features sorted, thresholds as one map."""
    thresholds = _thresholds(props)
    emails: Sequence[Any] = props.get("alert_emails") or []
    values = set(thresholds.values())
    return {
        **{k: str(props.get(k) or "") for k in ("endpoint", "deployed_model_id", "analysis_instance_schema_uri")},
        "display_name": str(props.get("display_name") or "modelstage-drift"),
        "feature_names": list(thresholds),
        "drift_threshold": values.pop() if len(values) == 1 else float(props.get("drift_threshold") or 0.0),
        "drift_thresholds": thresholds,
        "monitor_interval_hours": int(props.get("monitor_interval_hours") or 1),
        "sample_rate": float(1.0 if props.get("sample_rate") is None else props["sample_rate"]),
        "alert_emails": sorted({str(e) for e in emails}),
        "log_ttl_days": int(props.get("log_ttl_days") or 0),
    }


def _parent(endpoint: str) -> str:
    region_of(endpoint)  # a clear error for something that is not a resource name
    return "/".join(endpoint.split("/")[:4])


def _job_message(norm: Mapping[str, Any], name: str = "") -> Any:
    from google.cloud.aiplatform_v1 import (
        ModelDeploymentMonitoringJob,
        ModelDeploymentMonitoringObjectiveConfig,
        ModelDeploymentMonitoringScheduleConfig,
        ModelMonitoringAlertConfig,
        ModelMonitoringObjectiveConfig,
        SamplingStrategy,
        ThresholdConfig,
    )

    drift = ModelMonitoringObjectiveConfig.PredictionDriftDetectionConfig(
        drift_thresholds={f: ThresholdConfig(value=v) for f, v in norm["drift_thresholds"].items()})
    objective = ModelDeploymentMonitoringObjectiveConfig(
        deployed_model_id=norm["deployed_model_id"],
        objective_config=ModelMonitoringObjectiveConfig(prediction_drift_detection_config=drift))
    alerts = ModelMonitoringAlertConfig(
        email_alert_config=ModelMonitoringAlertConfig.EmailAlertConfig(user_emails=norm["alert_emails"]))
    ttl: dict[str, Any] = {"log_ttl": datetime.timedelta(days=norm["log_ttl_days"])} if norm["log_ttl_days"] else {}
    job = ModelDeploymentMonitoringJob(
        display_name=norm["display_name"], endpoint=norm["endpoint"],
        model_deployment_monitoring_objective_configs=[objective],
        model_deployment_monitoring_schedule_config=ModelDeploymentMonitoringScheduleConfig(
            monitor_interval=datetime.timedelta(hours=norm["monitor_interval_hours"])),
        logging_sampling_strategy=SamplingStrategy(
            random_sample_config=SamplingStrategy.RandomSampleConfig(sample_rate=norm["sample_rate"])),
        model_monitoring_alert_config=alerts,
        analysis_instance_schema_uri=norm["analysis_instance_schema_uri"], name=name, **ttl)
    return job


def _seconds(value: Any) -> float:
    """A Duration field as proto-plus hands it back (a timedelta), or a raw protobuf Duration."""
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return float(getattr(value, "seconds", 0) or 0) + float(getattr(value, "nanos", 0) or 0) / 1e9


def _live_props(job: Any, norm: Mapping[str, Any]) -> dict[str, Any]:
    """The job as the inputs that made it; fields it does not have keep what `norm` says."""
    configs = list(job.model_deployment_monitoring_objective_configs)
    live: dict[str, Any] = {**norm, "display_name": job.display_name, "endpoint": job.endpoint,
                            "analysis_instance_schema_uri": job.analysis_instance_schema_uri}
    if configs:
        drift = configs[0].objective_config.prediction_drift_detection_config
        live["deployed_model_id"] = configs[0].deployed_model_id
        live["drift_thresholds"] = {str(k): float(v.value) for k, v in drift.drift_thresholds.items()} or None
        live["feature_names"] = sorted(live["drift_thresholds"] or {})
    live["monitor_interval_hours"] = math.ceil(
        _seconds(job.model_deployment_monitoring_schedule_config.monitor_interval) / 3600)
    live["sample_rate"] = float(job.logging_sampling_strategy.random_sample_config.sample_rate)
    live["alert_emails"] = list(job.model_monitoring_alert_config.email_alert_config.user_emails)
    live["log_ttl_days"] = math.ceil(_seconds(job.log_ttl) / 86400)
    normalized = normalize(live)
    if len(configs) != 1:  # not the single objective this resource writes: make the next update rewrite it
        normalized["deployed_model_id"] = ",".join(c.deployed_model_id for c in configs)
    return normalized


def _outs(norm: Mapping[str, Any], job_name: str) -> dict[str, Any]:
    return {**norm, "job_name": job_name}


class _Jobs(Vertex):
    """`Vertex` with a JobServiceClient (REST, same credentials and endpoint as the other clients)."""

    def __init__(self, settings: VertexSettings, region: str) -> None:
        super().__init__(settings, region)
        self._jobs: Any = None

    @property
    def jobs(self) -> Any:
        if self._jobs is None:
            from google.cloud.aiplatform_v1 import JobServiceClient

            self._jobs = JobServiceClient(transport="rest", credentials=self._creds, client_options=self._options)
        return self._jobs


class VertexMonitoringJobProvider(ResourceProvider):
    """Create, read, update and delete one model deployment monitoring job. Holds settings only (pickled by dill)."""

    def __init__(self, settings: VertexSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or VertexSettings()

    def _vertex(self, norm: Mapping[str, Any]) -> _Jobs:
        return _Jobs(self.settings, region_of(norm["endpoint"]))

    def _get(self, vx: _Jobs, name: str) -> Any:
        return vx.call("get monitoring job", name, lambda: vx.jobs.get_model_deployment_monitoring_job(
            name=name, **vx.rpc))

    def _find(self, vx: _Jobs, norm: Mapping[str, Any]) -> Any | None:
        """The job with this display name on this endpoint (display names are not unique, so the endpoint is
        checked here: the list filter cannot name it)."""
        parent = _parent(norm["endpoint"])
        flt = f"display_name={json.dumps(norm['display_name'])}"
        jobs = vx.call("list monitoring jobs in", parent, lambda: list(
            vx.jobs.list_model_deployment_monitoring_jobs(request={"parent": parent, "filter": flt}, **vx.rpc)))
        for job in jobs:
            if job.display_name == norm["display_name"] and job.endpoint == norm["endpoint"]:
                return job
        return None

    def _converge(self, vx: _Jobs, norm: Mapping[str, Any], live: Any) -> None:
        """Update exactly the fields where the live job differs from `norm`; awaits the operation."""
        from google.protobuf.field_mask_pb2 import FieldMask

        have = _live_props(live, norm)
        fixed = [k for k in REPLACE_KEYS if have[k] != norm[k]]
        if fixed:
            raise VertexError(
                f"monitoring job {live.name} ({norm['display_name']!r} on {norm['endpoint']}) has a different "
                f"{' and '.join(fixed)} ({', '.join(repr(have[k]) for k in fixed)}), which Vertex cannot update: "
                "delete that job or give this one another display name")
        paths = sorted({UPDATE_PATHS[k] for k in UPDATE_KEYS if have[k] != norm[k]})
        if not paths:
            return
        job = _job_message(norm, name=str(live.name))
        vx.run("update_model_deployment_monitoring_job", str(live.name),
               lambda: vx.jobs.update_model_deployment_monitoring_job(
                   model_deployment_monitoring_job=job, update_mask=FieldMask(paths=paths), **vx.rpc))

    # -- provider interface -----------------------------------------------------------------------------
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []

        def known(key: str) -> bool:
            value = news.get(key)
            return value is not None and value != _UNKNOWN

        features: Sequence[Any] = news.get("feature_names") or []
        if known("feature_names") and not [f for f in features if f != _UNKNOWN]:
            failures.append(CheckFailure("feature_names", "name at least one feature to watch for drift"))
        if known("drift_threshold") and not 0 < float(news["drift_threshold"]) <= 1:
            failures.append(CheckFailure("drift_threshold", f"must be in (0, 1] (10% is 0.1), not "
                                                            f"{news['drift_threshold']}"))
        if known("sample_rate") and not 0 < float(news["sample_rate"]) <= 1:
            failures.append(CheckFailure("sample_rate", f"must be in (0, 1], not {news['sample_rate']}"))
        if known("monitor_interval_hours") and int(news["monitor_interval_hours"]) < 1:
            failures.append(CheckFailure("monitor_interval_hours", "must be at least 1 (Vertex runs hourly at most)"))
        if known("log_ttl_days") and int(news["log_ttl_days"]) < 0:
            failures.append(CheckFailure("log_ttl_days", "must be 0 (keep) or a number of days"))
        emails: Sequence[Any] = news.get("alert_emails") or []
        bad = [str(e) for e in emails if e != _UNKNOWN and not _EMAIL.fullmatch(str(e))]
        if bad:
            failures.append(CheckFailure("alert_emails", f"not email addresses: {', '.join(bad)}"))
        uri = news.get("analysis_instance_schema_uri")
        if known("analysis_instance_schema_uri") and not str(uri).startswith("gs://"):
            failures.append(CheckFailure("analysis_instance_schema_uri", f"must be a gs:// URI, not {uri!r}"))
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        norm = normalize(props)
        vx = self._vertex(norm)
        found = self._find(vx, norm)
        if found is None:
            parent = _parent(norm["endpoint"])
            try:
                found = vx.call("create monitoring job in", parent,
                                lambda: vx.jobs.create_model_deployment_monitoring_job(
                                    parent=parent, model_deployment_monitoring_job=_job_message(norm), **vx.rpc))
            except VertexConflict as exc:
                # A concurrent or interrupted run created it between our look and our create: look again.
                found = self._find(vx, norm)
                if found is None:
                    raise VertexError(f"{exc}; and no monitoring job named {norm['display_name']!r} is on "
                                      f"{norm['endpoint']}, so nothing was adopted (another job may monitor "
                                      "this endpoint)") from None
                self._converge(vx, norm, found)
        else:  # an earlier run made it and then failed: adopt, then converge
            self._converge(vx, norm, found)
        name = str(found.name)
        return CreateResult(id_=name, outs=_outs(norm, name))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        norm = normalize(props)
        vx = self._vertex(norm)
        try:
            live = self._get(vx, id_)
        except VertexNotFound:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs=_outs(_live_props(live, norm), id_))

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        old, new = normalize(_olds), normalize(_news)
        changed = [k for k in COMPARED_KEYS if old[k] != new[k]]
        replaces = [k for k in changed if k in REPLACE_KEYS]
        return DiffResult(changes=bool(changed), replaces=replaces, stables=["endpoint"],
                          delete_before_replace=bool(replaces))

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> UpdateResult:
        norm = normalize({**_news, "drift_thresholds": None})
        vx = self._vertex(norm)
        self._converge(vx, norm, self._get(vx, _id))
        return UpdateResult(outs=_outs(norm, _id))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        from google.api_core import exceptions as api_exceptions

        norm = normalize(_props)
        vx = self._vertex(norm)

        def start() -> Any:
            try:
                return vx.jobs.delete_model_deployment_monitoring_job(name=_id, **vx.rpc)
            except api_exceptions.BadRequest:  # REST maps FAILED_PRECONDITION to 400; pause, delete once more
                vx.jobs.pause_model_deployment_monitoring_job(name=_id, **vx.rpc)
                return vx.jobs.delete_model_deployment_monitoring_job(name=_id, **vx.rpc)

        try:
            vx.run("delete_model_deployment_monitoring_job", _id, start)
        except VertexNotFound:
            return


class VertexMonitoringJob(pulumi.dynamic.Resource, module="vertex", name="MonitoringJob"):
    """Prediction-drift monitoring of one deployed model on a Vertex endpoint (v1 model deployment monitoring)."""

    job_name: pulumi.Output[str]  # projects/P/locations/R/modelDeploymentMonitoringJobs/ID (also the id)
    drift_thresholds: pulumi.Output[dict[str, float]]  # feature -> threshold, as the job has them

    def __init__(self, name: str, *, endpoint: pulumi.Input[str], deployed_model_id: pulumi.Input[str],
                 feature_names: Sequence[str], drift_threshold: float,
                 analysis_instance_schema_uri: pulumi.Input[str], monitor_interval_hours: int = 1,
                 sample_rate: float = 1.0, alert_emails: Sequence[pulumi.Input[str]] = (), log_ttl_days: int = 0,
                 display_name: str = "modelstage-drift", settings: VertexSettings | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "endpoint": endpoint, "deployed_model_id": deployed_model_id, "feature_names": list(feature_names),
            "drift_threshold": drift_threshold, "analysis_instance_schema_uri": analysis_instance_schema_uri,
            "monitor_interval_hours": monitor_interval_hours, "sample_rate": sample_rate,
            "alert_emails": list(alert_emails), "log_ttl_days": log_ttl_days, "display_name": display_name,
            **dict.fromkeys(OUTPUT_KEYS),
        }
        super().__init__(VertexMonitoringJobProvider(settings), name, props, opts)

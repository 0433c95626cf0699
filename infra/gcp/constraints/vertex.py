"""The Vertex dynamic resources' requests, built by the providers' own functions, against what the
Vertex API documents (the aiplatform v1 proto field comments, the same text as the REST reference at
https://cloud.google.com/vertex-ai/docs/reference/rest/v1).

- `pulumi-python:dynamic/vertex:Model`: `infra.gcp.vertex.model.normalize` and `_model_message` make
  the `Model` (with its `ModelContainerSpec`) that `upload_model` sends, so the check sees exactly the
  request: display name, labels, version aliases, the container's image, ports, routes and env.
- `pulumi-python:dynamic/vertex:Deployment`: `infra.gcp.vertex.deployment.normalize` and `_dedicated`
  make the `DeployedModel` (with its `DedicatedResources`) that `deploy_model` sends: replica counts,
  the autoscaling target and metric, the machine type, the model's resource name.
- `pulumi-python:dynamic/vertex:MonitoringJob`: `infra.gcp.vertex.monitoring.normalize` and
  `_job_message` make the `ModelDeploymentMonitoringJob`: display name, endpoint, deployed model,
  drift thresholds, sampling rate.
- A Cloud Scheduler job that calls `batchPredictionJobs.create` (`gcp:cloudscheduler/job:Job` with a
  `.../batchPredictionJobs` URI): its body is parsed into `aiplatform_v1.BatchPredictionJob` as the
  REST API parses it (a field the API does not have is refused), then its labels and replicas checked.

The providers' own settings (rollout, bake time, the content hash input) reach no API member and are
listed as not checked.
"""

# pyright: strict, reportMissingTypeStubs=false, reportUnknownMemberType=false, reportUnknownVariableType=false
# pyright: reportUnknownArgumentType=false, reportPrivateUsage=false
# (the proto-plus messages are handled as Any; the providers' request builders are module-private)

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

from infra.gcp.constraints import rules
from infra.gcp.constraints.names import RealNames, real_names
from infra.gcp.vertex import deployment as vertex_deployment
from infra.gcp.vertex import model as vertex_model
from infra.offline.constraints import Unchecked, Violation

if TYPE_CHECKING:
    from infra.offline.runner import Recording

MODEL = "pulumi-python:dynamic/vertex:Model"
DEPLOYMENT = "pulumi-python:dynamic/vertex:Deployment"
MONITORING_JOB = "pulumi-python:dynamic/vertex:MonitoringJob"
SCHEDULER_JOB = "gcp:cloudscheduler/job:Job"
VERTEX_DYNAMIC = "pulumi-python:dynamic/vertex:"
_PROVIDER_KEY = "__provider"  # the pickled provider Pulumi's dynamic resources carry

MODEL_PROVIDER_ONLY: Mapping[str, str] = {"bundle_sha256": "goes into the content label only"}
DEPLOYMENT_PROVIDER_ONLY: Mapping[str, str] = {
    "rollout": "how the provider moves traffic", "step_percent": "the canary's share (a traffic split the provider "
                                                                 "computes)",
    "bake_seconds": "how long the provider waits"}

# aiplatform v1 proto comments (model.py, model_service.py, endpoint.py, machine_resources.py)
_ALIAS = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]")
_MODEL_ID = re.compile(r"[a-z_][a-z0-9_-]{0,62}")
_DIGEST = re.compile(r".+@sha256:[0-9a-f]{64}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODEL_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/models/[^/@]+(@[^/@]+)?")
_ENDPOINT_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/endpoints/[^/]+")
AUTOSCALING_METRICS = ("aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle",
                       "aiplatform.googleapis.com/prediction/online/cpu/utilization",
                       "aiplatform.googleapis.com/prediction/online/request_count")


def aiplatform_version() -> str:
    return metadata.version("google-cloud-aiplatform")


def _source(what: str) -> str:
    return f"google-cloud-aiplatform {aiplatform_version()} aiplatform_v1 proto comment of {what}"


@dataclass
class _Found:
    typ: str
    name: str
    violations: list[Violation] = field(default_factory=list[Violation])
    unchecked: list[Unchecked] = field(default_factory=list[Unchecked])

    def bad(self, path: str, value: object, rule: str, allowed: str, source: str) -> None:
        self.violations.append(Violation(self.typ, self.name, path, value, rule, allowed, source))

    def rule(self, path: str, value: object, documented: rules.Documented) -> None:
        for b in documented.check(value):
            self.bad(path, value, b.rule, b.allowed, documented.source)

    def labels(self, path: str, labels: object, label_rules: rules.LabelRules) -> None:
        for where, value, b in rules.label_problems(labels, label_rules):
            self.bad(f"{path}{where}", value, b.rule, b.allowed, label_rules.source)

    def skip(self, path: str, reason: str) -> None:
        self.unchecked.append(Unchecked(self.typ, path, reason))


def check_model(name: str, inputs: Mapping[str, Any]) -> _Found:
    found = _Found(MODEL, name)
    known = {*vertex_model.INPUT_KEYS, *vertex_model.OUTPUT_KEYS, _PROVIDER_KEY}
    for key in inputs:
        if key not in known:
            found.skip(key, "no member of the upload request it maps to")
    found.unchecked += [Unchecked(MODEL, k, f"provider-only: {why}") for k, why in MODEL_PROVIDER_ONLY.items()
                        if k in inputs]
    raw_aliases: Any = inputs.get("version_aliases") or []
    for i, alias in enumerate(raw_aliases):
        if alias == "default":
            found.bad(f"version_aliases[{i}]", alias, "reserved alias",
                      "an alias other than 'default' (the provider gives every upload the default alias, and there "
                      "must be exactly one per model)", _source("Model.version_aliases"))
    norm = vertex_model.normalize(inputs)
    model_id = norm["model_id"]
    if not _MODEL_ID.fullmatch(model_id) or model_id[:1].isdigit():
        found.bad("model_id", model_id, "pattern", "up to 63 of [a-z0-9_-], not starting with a digit or -",
                  _source("UploadModelRequest.model_id"))
    message = vertex_model._model_message(norm)
    found.rule("display_name", message.display_name, rules.Documented(rules.VERTEX_DISPLAY_NAME.check,
                                                                       _source("Model.display_name")))
    found.labels("labels", dict(message.labels), rules.VERTEX_LABELS)
    given = [str(a) for a in raw_aliases]
    for alias in message.version_aliases:  # as sent (the provider's `default` first); named by the input's index
        if not _ALIAS.fullmatch(alias):
            at = f"version_aliases[{given.index(alias)}]" if alias in given else "version_aliases"
            found.bad(at, alias, "pattern", _ALIAS.pattern, _source("Model.version_aliases"))
    spec = message.container_spec
    if not spec.image_uri:
        found.bad("image_uri", spec.image_uri, "required", "the image URI", _source("ModelContainerSpec.image_uri"))
    elif not _DIGEST.fullmatch(spec.image_uri):
        found.bad("image_uri", spec.image_uri, "by digest", "an image referenced by digest (…@sha256:<64 hex>)",
                  "issue 10 (Build 3: the serving image referenced by digest); "
                  + _source("ModelContainerSpec.image_uri"))
    for i, port in enumerate(spec.ports):
        if not 1 <= port.container_port <= 65535:
            found.bad(f"ports[{i}].container_port", port.container_port, "range", "1 to 65535",
                      _source("ModelContainerSpec.ports (Kubernetes ContainerPort)"))
    for key in ("predict_route", "health_route"):
        route = getattr(spec, key)
        if not str(route).startswith("/"):
            found.bad(key, route, "pattern", 'an HTTP path starting with "/"', _source(f"ModelContainerSpec.{key}"))
    for env in spec.env:
        if not _ENV_NAME.fullmatch(env.name):
            found.bad(f"env.{env.name}", env.name, "pattern", "a valid C identifier", _source("EnvVar.name"))
    return found


def check_deployment(name: str, inputs: Mapping[str, Any]) -> _Found:
    from google.cloud.aiplatform_v1 import DeployedModel

    found = _Found(DEPLOYMENT, name)
    known = {*vertex_deployment.INPUT_KEYS, "deployed_model_id", _PROVIDER_KEY}
    for key in inputs:
        if key not in known:
            found.skip(key, "no member of the deploy request it maps to")
    found.unchecked += [Unchecked(DEPLOYMENT, k, f"provider-only: {why}") for k, why in DEPLOYMENT_PROVIDER_ONLY.items()
                        if k in inputs]
    norm = vertex_deployment.normalize(inputs)
    deployed = DeployedModel(model=norm["model"], display_name=norm["display_name"],
                             dedicated_resources=vertex_deployment._dedicated(norm),
                             service_account=norm["service_account"])
    if not _ENDPOINT_NAME.fullmatch(norm["endpoint"]):
        found.bad("endpoint", norm["endpoint"], "pattern", "projects/{project}/locations/{location}/endpoints/{id}",
                  _source("DeployModelRequest.endpoint"))
    if not _MODEL_NAME.fullmatch(deployed.model):
        found.bad("model", deployed.model, "pattern",
                  "projects/{project}/locations/{location}/models/{model}[@version]", _source("DeployedModel.model"))
    res = deployed.dedicated_resources
    if not res.machine_spec.machine_type:
        found.bad("machine_type", res.machine_spec.machine_type, "required", "a machine type",
                  _source("DedicatedResources.machine_spec / MachineSpec.machine_type"))
    if res.min_replica_count < 1:
        found.bad("min_replicas", res.min_replica_count, "min value", ">= 1",
                  _source("DedicatedResources.min_replica_count"))
    if res.max_replica_count < res.min_replica_count:
        found.bad("max_replicas", res.max_replica_count, "min value", f">= min_replica_count ({res.min_replica_count})",
                  _source("DedicatedResources.max_replica_count"))
    for i, spec in enumerate(res.autoscaling_metric_specs):
        if spec.metric_name not in AUTOSCALING_METRICS:
            found.bad(f"autoscaling_metric_specs[{i}].metric_name", spec.metric_name, "enum",
                      ", ".join(AUTOSCALING_METRICS), _source("AutoscalingMetricSpec.metric_name"))
        if not 1 <= spec.target <= 100:
            found.bad("cpu_target", spec.target, "range", "1 to 100 (percent)", _source("AutoscalingMetricSpec.target"))
    found.skip("display_name", "DeployedModel.display_name: no documented limit")
    return found


def check_batch_job(name: str, inputs: Mapping[str, Any]) -> _Found:
    """A scheduler job's body, when it creates a Vertex batch prediction job."""
    from google.cloud.aiplatform_v1 import BatchPredictionJob

    found = _Found(SCHEDULER_JOB, name)
    target: Any = inputs.get("httpTarget") or {}
    if not isinstance(target, dict) or not str(target.get("uri", "")).endswith("/batchPredictionJobs"):
        return found
    try:
        text = base64.b64decode(str(target.get("body") or ""), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        found.bad("httpTarget.body", target.get("body"), "type", "base64 of a JSON BatchPredictionJob",
                  "cloudscheduler v1 HttpTarget.body (format: byte)")
        return found
    source = _source("BatchPredictionJob (REST: unknown fields are refused)")
    try:
        job: Any = BatchPredictionJob.from_json(text)
    except Exception as exc:  # json_format.ParseError, ValueError: what the REST API answers 400 for
        found.bad("httpTarget.body", text, "BatchPredictionJob", f"a BatchPredictionJob in JSON ({exc})"[:300], source)
        return found
    where = "httpTarget.body"
    if not job.display_name:
        found.bad(f"{where}.displayName", job.display_name, "required", "a display name",
                  _source("BatchPredictionJob.display_name"))
    if not _MODEL_NAME.fullmatch(job.model):
        found.bad(f"{where}.model", job.model, "pattern", "projects/{project}/locations/{location}/models/{model}"
                  "[@version]", _source("BatchPredictionJob.model"))
    found.labels(f"{where}.labels", dict(job.labels), rules.VERTEX_LABELS)
    res = job.dedicated_resources
    if job.dedicated_resources and not res.machine_spec.machine_type:
        found.bad(f"{where}.dedicatedResources.machineSpec.machineType", "", "required", "a machine type",
                  _source("BatchDedicatedResources.machine_spec"))
    if res.starting_replica_count and res.max_replica_count and res.starting_replica_count > res.max_replica_count:
        found.bad(f"{where}.dedicatedResources.startingReplicaCount", res.starting_replica_count, "max value",
                  f"<= max_replica_count ({res.max_replica_count})", _source("BatchDedicatedResources"))
    return found


def check_monitoring_job(name: str, inputs: Mapping[str, Any]) -> _Found:
    found = _Found(MONITORING_JOB, name)
    try:
        from infra.gcp.vertex import monitoring as vertex_monitoring
    except ImportError:  # pragma: no cover - the provider module is not there
        found.skip("*", "the monitoring job provider's request builder cannot be imported")
        return found
    known = {*vertex_monitoring.COMPARED_KEYS, *vertex_monitoring.OUTPUT_KEYS, "feature_names", "drift_threshold",
             _PROVIDER_KEY}
    for key in inputs:
        if key not in known:
            found.skip(key, "no member of the monitoring job request it maps to")
    norm = vertex_monitoring.normalize(inputs)
    job = vertex_monitoring._job_message(norm)
    found.rule("display_name", job.display_name, rules.Documented(
        rules.VERTEX_DISPLAY_NAME.check, _source("ModelDeploymentMonitoringJob.display_name")))
    if not _ENDPOINT_NAME.fullmatch(job.endpoint):
        found.bad("endpoint", job.endpoint, "pattern", "projects/{project}/locations/{location}/endpoints/{id}",
                  _source("ModelDeploymentMonitoringJob.endpoint"))
    for config in job.model_deployment_monitoring_objective_configs:
        if not config.deployed_model_id:
            found.bad("deployed_model_id", config.deployed_model_id, "required", "the deployed model's id",
                      _source("ModelDeploymentMonitoringObjectiveConfig.deployed_model_id"))
        drift = config.objective_config.prediction_drift_detection_config.drift_thresholds
        for feature, threshold in drift.items():
            if not threshold.value > 0:
                found.bad(f"drift_thresholds.{feature}", threshold.value, "min value",
                          "a non-zero threshold for each monitored feature", _source("ThresholdConfig.value"))
    rate = job.logging_sampling_strategy.random_sample_config.sample_rate
    if not 0 < rate <= 1:
        found.bad("sample_rate", rate, "range", "(0, 1]", _source("SamplingStrategy.RandomSampleConfig.sample_rate"))
    return found


@dataclass
class VertexRequestCheck:
    """The Vertex requests the dynamic resources (and the batch scheduler job) send, as aiplatform_v1 protos."""

    @property
    def title(self) -> str:
        return f"aiplatform_v1 protos (google-cloud-aiplatform {aiplatform_version()})"

    def _walk(self, recording: Recording) -> list[_Found]:
        names: RealNames = real_names(recording.resources)
        out: list[_Found] = []
        for r in recording.resources:
            if not r.custom:
                continue
            inputs = names.inputs(r.typ, r.name, r.inputs)
            if r.typ == MODEL:
                out.append(check_model(r.name, inputs))
            elif r.typ == DEPLOYMENT:
                out.append(check_deployment(r.name, inputs))
            elif r.typ == MONITORING_JOB:
                out.append(check_monitoring_job(r.name, inputs))
            elif r.typ == SCHEDULER_JOB:
                out.append(check_batch_job(r.name, inputs))
            elif r.typ.startswith(VERTEX_DYNAMIC):
                other = _Found(r.typ, r.name)
                other.skip("*", "a Vertex dynamic resource whose request this check does not build")
                out.append(other)
        return out

    def check(self, recording: Recording) -> list[Violation]:
        return [v for f in self._walk(recording) for v in f.violations]

    def unchecked(self, recording: Recording) -> list[Unchecked]:
        return sorted({u for f in self._walk(recording) for u in f.unchecked},
                      key=lambda u: (u.resource_type, u.path))

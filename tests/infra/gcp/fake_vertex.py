"""A small in-memory fake of the Vertex AI v1 REST endpoints the dynamic providers call, on 127.0.0.1.

It checks the wire, not the service: every request body is parsed into its aiplatform_v1 request type with
unknown fields rejected (a field the API does not have fails the test), the bearer token must be the one the
test's credential carries, and operations finish only when polled (on `/ui/` or `/v1/`), so the client's own
polling runs. Service rules that matter to the providers are modelled: a deployed model version cannot be
deleted, traffic must add up to 100 and name only deployed models, the only version cannot be deleted by
`deleteVersion`; a monitoring job needs an existing endpoint whose deployed models it names, an endpoint
has at most one (409), only the API's updatable fields may be in an update mask, and with
`pause_before_delete` a running job refuses deletion until paused. `failures` injects faults per route;
`violations` collects what the fake refused.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import proto
from google.cloud import aiplatform_v1 as v1
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2, json_format
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import status_pb2

_MDM = r"projects/[^/]+/locations/[^/]+/modelDeploymentMonitoringJobs"
# UpdateModelDeploymentMonitoringJobRequest.update_mask's "Updatable fields" (the objective's nested paths aside).
_MDM_UPDATABLE = frozenset({
    "display_name", "model_deployment_monitoring_schedule_config", "model_monitoring_alert_config",
    "logging_sampling_strategy", "labels", "log_ttl", "enable_monitoring_pipeline_logs",
    "model_deployment_monitoring_objective_configs"})
STATUS = {400: "FAILED_PRECONDITION", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 409: "ALREADY_EXISTS",
          429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}


class HttpError(Exception):
    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status or STATUS.get(code, "UNKNOWN")


@dataclass
class Fault:
    """An injected failure: `kind` is http409/http429/http500/http500_echo_auth (answer with that status),
    op_error (the operation finishes with an error), op_never (the operation never finishes) or slow
    (answer after 0.5 s)."""

    kind: str
    times: int = 1
    before: Callable[[], None] | None = None  # runs first (e.g. a concurrent run that created the thing)


@dataclass
class Op:
    name: str
    response: proto.Message | None
    apply: Callable[[], object]
    polls_left: int = 1
    error: str | None = None
    never: bool = False
    done: bool = False


def _now() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    return ts


@dataclass
class FakeVertex:
    token: str | None = None
    models: dict[str, dict[str, v1.Model]] = field(default_factory=dict)  # model name -> version id -> Model
    endpoints: dict[str, v1.Endpoint] = field(default_factory=dict)
    ops: dict[str, Op] = field(default_factory=dict)
    failures: dict[str, list[Fault]] = field(default_factory=dict)  # route -> faults, used in order
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of every request
    violations: list[str] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)  # latency (p99 ms) / failed / total
    metric_queries: list[str] = field(default_factory=list)
    traffic_history: list[tuple[str, dict[str, int], list[str]]] = field(default_factory=list)
    monitoring_jobs: dict[str, v1.ModelDeploymentMonitoringJob] = field(default_factory=dict)
    monitoring_updates: list[list[str]] = field(default_factory=list)  # the update mask of every job update
    pause_before_delete: bool = False  # a service that refuses to delete a running monitoring job
    _next_version: dict[str, int] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- test helpers ---------------------------------------------------------------------------------
    def inject(self, route: str, kind: str, *, times: int = 1, before: Callable[[], None] | None = None) -> None:
        self.failures.setdefault(route, []).append(Fault(kind, times, before))

    def add_endpoint(self, name: str) -> None:
        self.endpoints[name] = v1.Endpoint(name=name, display_name="ep", create_time=_now())

    def versions(self, model_name: str) -> dict[str, v1.Model]:
        return self.models.get(model_name, {})

    def deployed(self, endpoint: str) -> dict[str, v1.DeployedModel]:
        return {d.id: d for d in self.endpoints[endpoint].deployed_models}

    def traffic(self, endpoint: str) -> dict[str, int]:
        return dict(self.endpoints[endpoint].traffic_split)

    def pending_ops(self) -> list[str]:
        return [o.name for o in self.ops.values() if not o.done and not o.never]

    # -- dispatch -------------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> tuple[int, str]:
        url = urlsplit(raw_path)
        path, query = unquote(url.path), parse_qs(url.query)
        with self._lock:
            self.requests.append((method, path))
            try:
                self._check_auth(headers)
                return 200, self._route(method, path, query, body, headers)
            except HttpError as exc:
                return exc.code, json.dumps({"error": {"code": exc.code, "message": exc.message,
                                                       "status": exc.status}})

    def _check_auth(self, headers: Any) -> None:
        if self.token is None:
            return
        if headers.get("Authorization") != f"Bearer {self.token}":
            self.violations.append("request without the expected bearer token")
            raise HttpError(401, "missing or wrong credentials")

    def _fault(self, route: str, headers: Any) -> str | None:
        queue = self.failures.get(route) or []
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        if fault.before is not None:
            fault.before()
        if fault.kind == "slow":  # answer late (bounded): the client's per-call timeout must fire first
            time.sleep(0.5)
            return None
        if fault.kind.startswith("http"):
            code = int(fault.kind[4:7])
            message = f"injected {code} on {route}"
            if fault.kind.endswith("echo_auth"):  # a careless backend quoting the request back
                message += f" (request had Authorization: {headers.get('Authorization')})"
            raise HttpError(code, message)
        return fault.kind

    def _parse(self, body: bytes, msg_type: type[proto.Message]) -> Any:
        try:
            return msg_type.from_json(body.decode() or "{}", ignore_unknown_fields=False)
        except Exception as exc:  # a field the API does not have, or a wrong type
            self.violations.append(f"{msg_type.__name__}: {exc}")
            raise HttpError(400, f"invalid {msg_type.__name__}: {exc}", "INVALID_ARGUMENT") from None

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes, headers: Any) -> str:
        m = re.fullmatch(r"/(?:v1|ui)/(.+/operations/\d+)", path)
        if method == "GET" and m:
            return self._poll(m.group(1))
        if method == "GET" and re.fullmatch(r"/v3/projects/[^/]+/timeSeries", path):
            return self._time_series(query)
        if not path.startswith("/v1/"):
            raise HttpError(404, f"no route {method} {path}")
        name = path[len("/v1/"):]
        if method in ("GET", "DELETE") and body:
            self.violations.append(f"{method} {path} with a body")
        routes: list[tuple[str, str, Callable[..., str]]] = [
            ("POST", r"(projects/[^/]+/locations/[^/]+)/models:upload", self._upload),
            ("POST", r"(projects/[^/]+/locations/[^/]+/models/[^/:]+):mergeVersionAliases", self._merge),
            ("DELETE", r"(projects/[^/]+/locations/[^/]+/models/[^/:]+):deleteVersion", self._delete_version),
            ("GET", r"(projects/[^/]+/locations/[^/]+/models/[^/:]+):listVersions", self._list_versions),
            ("GET", r"(projects/[^/]+/locations/[^/]+/models/[^/:]+)", self._get_model),
            ("PATCH", r"(projects/[^/]+/locations/[^/]+/models/[^/:]+)", self._patch_model),
            ("DELETE", r"(projects/[^/]+/locations/[^/]+/models/[^/:@]+)", self._delete_model),
            ("GET", r"(projects/[^/]+/locations/[^/]+/endpoints/[^/:]+)", self._get_endpoint),
            ("PATCH", r"(projects/[^/]+/locations/[^/]+/endpoints/[^/:]+)", self._patch_endpoint),
            ("POST", r"(projects/[^/]+/locations/[^/]+/endpoints/[^/:]+):deployModel", self._deploy),
            ("POST", r"(projects/[^/]+/locations/[^/]+/endpoints/[^/:]+):undeployModel", self._undeploy),
            ("POST", r"(projects/[^/]+/locations/[^/]+/endpoints/[^/:]+):mutateDeployedModel", self._mutate),
            ("POST", r"(projects/[^/]+/locations/[^/]+)/modelDeploymentMonitoringJobs", self._create_monitoring_job),
            ("GET", r"(projects/[^/]+/locations/[^/]+)/modelDeploymentMonitoringJobs", self._list_monitoring_jobs),
            ("GET", rf"({_MDM}/[^/:]+)", self._get_monitoring_job),
            ("PATCH", rf"({_MDM}/[^/:]+)", self._update_monitoring_job),
            ("DELETE", rf"({_MDM}/[^/:]+)", self._delete_monitoring_job),
            ("POST", rf"({_MDM}/[^/:]+):pause", self._pause_monitoring_job),
        ]
        for verb, pattern, fn in routes:
            hit = re.fullmatch(pattern, name)
            if verb == method and hit:
                route = fn.__name__.lstrip("_")
                kind = self._fault(route, headers)
                return fn(hit.group(1), query=query, body=body, fault=kind)
        raise HttpError(404, f"no route {method} {path}")

    # -- Cloud Monitoring (what a canary's health check reads) ---------------------------------------
    def _time_series(self, query: dict[str, list[str]]) -> str:
        flt = query.get("filter", [""])[0]
        for key in ("interval.startTime", "interval.endTime", "aggregation.perSeriesAligner"):
            if key not in query:
                raise HttpError(400, f"timeSeries.list without {key}", "INVALID_ARGUMENT")
        self.metric_queries.append(flt)
        kind = ("latency" if "prediction_latencies" in flt else "failed" if "response_code" in flt else "total")
        points = [{"value": {"doubleValue": v}} for v in self.metrics.get(kind, [])]
        return json.dumps({"timeSeries": [{"points": points}]} if points else {})

    # -- operations -----------------------------------------------------------------------------------
    def _op(self, parent: str, response: proto.Message | None, apply: Callable[[], object], fault: str | None) -> str:
        op = Op(f"{parent}/operations/{next(self._ids)}", response, apply, error=None, never=fault == "op_never")
        if fault == "op_error":
            op.error = "injected: the operation failed"
        self.ops[op.name] = op
        return self._op_json(op)

    def _poll(self, name: str) -> str:
        op = self.ops.get(name)
        if op is None:
            raise HttpError(404, f"operation {name} not found")
        if not op.done and not op.never:
            op.polls_left -= 1
            if op.polls_left < 0:
                op.done = True
                if op.error is None:
                    op.apply()
        return self._op_json(op)

    def _op_json(self, op: Op) -> str:
        pb = operations_pb2.Operation(name=op.name, done=op.done)
        if op.done and op.error is not None:
            pb.error.CopyFrom(status_pb2.Status(code=13, message=op.error))
        elif op.done:  # deletes answer google.protobuf.Empty
            pb.response.Pack(type(op.response).pb(op.response) if op.response is not None else empty_pb2.Empty())
        return json_format.MessageToJson(pb)

    # -- models ---------------------------------------------------------------------------------------
    def _version(self, name: str) -> tuple[str, v1.Model]:
        model_name, _, version = name.partition("@")
        versions = self.models.get(model_name)
        if not versions:
            raise HttpError(404, f"model {model_name} not found")
        if not version or version == "default":
            version = next(v for v, m in versions.items() if "default" in m.version_aliases)
        if version not in versions:
            raise HttpError(404, f"model version {name} not found")
        return model_name, versions[version]

    def _take_aliases(self, model_name: str, owner: v1.Model, aliases: list[str]) -> None:
        for other in self.models[model_name].values():
            if other is not owner:
                kept = [a for a in other.version_aliases if a not in aliases]
                del other.version_aliases[:]
                other.version_aliases.extend(kept)

    def _upload(self, parent: str, *, body: bytes, fault: str | None, **_: Any) -> str:
        req: v1.UploadModelRequest = self._parse(body, v1.UploadModelRequest)
        if req.parent_model:
            model_name = req.parent_model
            if model_name not in self.models:
                raise HttpError(404, f"parent model {model_name} not found")
        else:
            model_name = f"{parent}/models/{req.model_id or next(self._ids)}"
            if model_name in self.models:
                raise HttpError(409, f"model {model_name} already exists")
        version = str(self._next_version.get(model_name, 1))
        self._next_version[model_name] = int(version) + 1
        model = v1.Model(req.model, name=model_name, version_id=version, create_time=_now(),
                         version_create_time=_now(), supported_deployment_resources_types=[1])
        if model_name not in self.models and "default" not in model.version_aliases:
            model.version_aliases.append("default")  # the first version is the default one

        def apply() -> None:  # the model exists once the operation is done, not before
            self.models.setdefault(model_name, {})
            self._take_aliases(model_name, model, list(model.version_aliases))
            self.models[model_name][version] = model

        return self._op(model_name, v1.UploadModelResponse(model=model_name, model_version_id=version), apply, fault)

    def _get_model(self, name: str, **_: Any) -> str:
        return v1.Model.to_json(self._version(name)[1])

    def _list_versions(self, name: str, query: dict[str, list[str]], **_: Any) -> str:
        if name not in self.models:
            raise HttpError(404, f"model {name} not found")
        found = list(self.models[name].values())
        for flt in query.get("filter", []):
            m = re.fullmatch(r'labels\.([a-z0-9_-]+)="([^"]*)"', flt)
            if not m:
                raise HttpError(400, f"unsupported filter {flt}", "INVALID_ARGUMENT")
            found = [v for v in found if v.labels.get(m.group(1)) == m.group(2)]
        return v1.ListModelVersionsResponse.to_json(v1.ListModelVersionsResponse(models=found))

    def _patch_model(self, name: str, query: dict[str, list[str]], body: bytes, **_: Any) -> str:
        patch: v1.Model = self._parse(body, v1.Model)
        model = self._version(name)[1]
        for path in ",".join(query.get("updateMask", [])).split(","):
            if path == "labels":
                model.labels.clear()
                model.labels.update(dict(patch.labels))
            elif path in ("versionDescription", "displayName", "description"):
                attr = {"versionDescription": "version_description", "displayName": "display_name"}.get(path, path)
                setattr(model, attr, getattr(patch, attr))
            elif path:
                raise HttpError(400, f"field {path} cannot be updated", "INVALID_ARGUMENT")
        return v1.Model.to_json(model)

    def _merge(self, name: str, body: bytes, **_: Any) -> str:
        req: v1.MergeVersionAliasesRequest = self._parse(body, v1.MergeVersionAliasesRequest)
        model_name, model = self._version(name)
        add = [a for a in req.version_aliases if not a.startswith("-")]
        drop = {a[1:] for a in req.version_aliases if a.startswith("-")}
        if "default" in drop:
            raise HttpError(400, "the default alias cannot be removed", "INVALID_ARGUMENT")
        self._take_aliases(model_name, model, add)
        kept = [a for a in model.version_aliases if a not in drop]
        del model.version_aliases[:]
        model.version_aliases.extend(kept + [a for a in add if a not in kept])
        return v1.Model.to_json(model)

    def _delete_version(self, name: str, fault: str | None, **_: Any) -> str:
        model_name, model = self._version(name)
        if model.deployed_models:
            raise HttpError(400, f"model version {name} has deployed models")
        if len(self.models[model_name]) == 1:
            raise HttpError(400, "deleting the only version of a model is not allowed; delete the model")
        if "default" in model.version_aliases:
            raise HttpError(400, "the default version cannot be deleted")
        return self._op(model_name, None, lambda: self.models[model_name].pop(model.version_id, None), fault)

    def _delete_model(self, name: str, fault: str | None, **_: Any) -> str:
        if name not in self.models:
            raise HttpError(404, f"model {name} not found")
        if any(m.deployed_models for m in self.models[name].values()):
            raise HttpError(400, f"model {name} has deployed models")
        return self._op(name, None, lambda: self.models.pop(name, None), fault)

    # -- endpoints ------------------------------------------------------------------------------------
    def _endpoint(self, name: str) -> v1.Endpoint:
        if name not in self.endpoints:
            raise HttpError(404, f"endpoint {name} not found")
        return self.endpoints[name]

    def _valid_split(self, endpoint: v1.Endpoint, split: dict[str, int], ids: set[str]) -> None:
        if split and sum(split.values()) != 100:
            raise HttpError(400, f"traffic split must add up to 100: {split}", "INVALID_ARGUMENT")
        if set(split) - ids:
            raise HttpError(400, f"traffic split names unknown deployed models: {sorted(set(split) - ids)}",
                            "INVALID_ARGUMENT")

    def _set_split(self, endpoint: v1.Endpoint, split: dict[str, int]) -> None:
        endpoint.traffic_split.clear()
        endpoint.traffic_split.update(split)
        ids = [d.id for d in endpoint.deployed_models]
        self.traffic_history.append((endpoint.name, dict(split), ids))
        if ids and sum(split.values()) != 100:
            self.violations.append(f"traffic of {endpoint.name} points at nothing: {split} with {ids}")

    def _get_endpoint(self, name: str, **_: Any) -> str:
        return v1.Endpoint.to_json(self._endpoint(name))

    def _patch_endpoint(self, name: str, query: dict[str, list[str]], body: bytes, **_: Any) -> str:
        patch: v1.Endpoint = self._parse(body, v1.Endpoint)
        endpoint = self._endpoint(name)
        if query.get("updateMask") != ["trafficSplit"]:
            raise HttpError(400, f"unsupported update mask {query.get('updateMask')}", "INVALID_ARGUMENT")
        split = dict(patch.traffic_split)
        self._valid_split(endpoint, split, {d.id for d in endpoint.deployed_models})
        self._set_split(endpoint, split)
        return v1.Endpoint.to_json(endpoint)

    def _deploy(self, name: str, body: bytes, fault: str | None, **_: Any) -> str:
        req: v1.DeployModelRequest = self._parse(body, v1.DeployModelRequest)
        endpoint = self._endpoint(name)
        model_name, version = self._version(req.deployed_model.model)
        new_id = str(next(self._ids))
        split = {(new_id if k == "0" else k): v for k, v in req.traffic_split.items()}
        self._valid_split(endpoint, split, {d.id for d in endpoint.deployed_models} | {new_id})
        deployed = v1.DeployedModel(req.deployed_model, id=new_id, model=model_name,
                                    model_version_id=version.version_id, create_time=_now())

        def apply() -> None:
            endpoint.deployed_models.append(deployed)
            version.deployed_models.append(v1.DeployedModelRef(endpoint=name, deployed_model_id=new_id))
            if split:
                self._set_split(endpoint, split)

        return self._op(name, v1.DeployModelResponse(deployed_model=deployed), apply, fault)

    def _undeploy(self, name: str, body: bytes, fault: str | None, **_: Any) -> str:
        req: v1.UndeployModelRequest = self._parse(body, v1.UndeployModelRequest)
        endpoint = self._endpoint(name)
        ids = {d.id for d in endpoint.deployed_models}
        if req.deployed_model_id not in ids:
            raise HttpError(404, f"deployed model {req.deployed_model_id} not found on {name}")
        split = dict(req.traffic_split)
        rest = ids - {req.deployed_model_id}
        if req.deployed_model_id in split:
            raise HttpError(400, "the traffic split names the model being undeployed", "INVALID_ARGUMENT")
        self._valid_split(endpoint, split, rest)
        if rest and not split and endpoint.traffic_split.get(req.deployed_model_id, 0):
            raise HttpError(400, "undeploying a model with traffic needs a traffic split for the rest")

        def apply() -> None:
            kept = [d for d in endpoint.deployed_models if d.id != req.deployed_model_id]
            gone = next(d for d in endpoint.deployed_models if d.id == req.deployed_model_id)
            del endpoint.deployed_models[:]
            endpoint.deployed_models.extend(kept)
            for version in self.models.get(gone.model, {}).values():
                refs = [r for r in version.deployed_models if r.deployed_model_id != gone.id]
                del version.deployed_models[:]
                version.deployed_models.extend(refs)
            self._set_split(endpoint, split if rest else {})

        return self._op(name, v1.UndeployModelResponse(), apply, fault)

    def _mutate(self, name: str, body: bytes, fault: str | None, **_: Any) -> str:
        req: v1.MutateDeployedModelRequest = self._parse(body, v1.MutateDeployedModelRequest)
        endpoint = self._endpoint(name)
        target = next((d for d in endpoint.deployed_models if d.id == req.deployed_model.id), None)
        if target is None:
            raise HttpError(404, f"deployed model {req.deployed_model.id} not found on {name}")
        allowed = {"dedicated_resources.min_replica_count", "dedicated_resources.max_replica_count",
                   "dedicated_resources.autoscaling_metric_specs"}
        if set(req.update_mask.paths) - allowed:
            raise HttpError(400, f"cannot mutate {sorted(set(req.update_mask.paths) - allowed)}", "INVALID_ARGUMENT")
        new = req.deployed_model.dedicated_resources

        def apply() -> None:
            res = target.dedicated_resources
            res.min_replica_count, res.max_replica_count = new.min_replica_count, new.max_replica_count
            del res.autoscaling_metric_specs[:]
            res.autoscaling_metric_specs.extend(new.autoscaling_metric_specs)

        return self._op(name, v1.MutateDeployedModelResponse(deployed_model=target), apply, fault)

    # -- model deployment monitoring jobs ---------------------------------------------------------------
    def _monitoring_job(self, name: str) -> v1.ModelDeploymentMonitoringJob:
        if name not in self.monitoring_jobs:
            raise HttpError(404, f"model deployment monitoring job {name} not found")
        return self.monitoring_jobs[name]

    def _valid_objectives(self, job: v1.ModelDeploymentMonitoringJob) -> None:
        endpoint = self._endpoint(job.endpoint)
        ids = {d.id for d in endpoint.deployed_models}
        if not job.model_deployment_monitoring_objective_configs:
            raise HttpError(400, "model_deployment_monitoring_objective_configs is required", "INVALID_ARGUMENT")
        for config in job.model_deployment_monitoring_objective_configs:
            if config.deployed_model_id not in ids:
                raise HttpError(400, f"deployed model {config.deployed_model_id!r} is not deployed to "
                                     f"{job.endpoint}", "INVALID_ARGUMENT")

    def _create_monitoring_job(self, parent: str, body: bytes, **_: Any) -> str:
        job: v1.ModelDeploymentMonitoringJob = self._parse(body, v1.ModelDeploymentMonitoringJob)
        if job.name or job.state or job.create_time:
            self.violations.append(f"create of a monitoring job sets output-only fields: {job.name!r} {job.state}")
        for required in ("display_name", "endpoint"):
            if not getattr(job, required):
                raise HttpError(400, f"{required} is required", "INVALID_ARGUMENT")
        if not job.endpoint.startswith(parent + "/endpoints/"):
            raise HttpError(400, f"endpoint {job.endpoint} is not in {parent}", "INVALID_ARGUMENT")
        self._valid_objectives(job)
        if not job.model_deployment_monitoring_schedule_config.monitor_interval:
            raise HttpError(400, "model_deployment_monitoring_schedule_config.monitor_interval is required",
                            "INVALID_ARGUMENT")
        if "logging_sampling_strategy" not in job:
            raise HttpError(400, "logging_sampling_strategy is required", "INVALID_ARGUMENT")
        taken = [j.name for j in self.monitoring_jobs.values() if j.endpoint == job.endpoint]
        if taken:
            raise HttpError(409, f"endpoint {job.endpoint} is already monitored by {taken[0]}")
        job.name = f"{parent}/modelDeploymentMonitoringJobs/{next(self._ids)}"
        job.state = v1.JobState.JOB_STATE_RUNNING
        job.create_time = job.update_time = _now()
        self.monitoring_jobs[job.name] = job
        return v1.ModelDeploymentMonitoringJob.to_json(job)

    def _list_monitoring_jobs(self, parent: str, query: dict[str, list[str]], **_: Any) -> str:
        found = [j for name, j in self.monitoring_jobs.items() if name.startswith(parent + "/")]
        for flt in query.get("filter", []):
            m = re.fullmatch(r'display_name="((?:[^"\\]|\\.)*)"', flt)
            if not m:
                raise HttpError(400, f"unsupported filter {flt}", "INVALID_ARGUMENT")
            wanted = json.loads(f'"{m.group(1)}"')
            found = [j for j in found if j.display_name == wanted]
        response = v1.ListModelDeploymentMonitoringJobsResponse(model_deployment_monitoring_jobs=found)
        return v1.ListModelDeploymentMonitoringJobsResponse.to_json(response)

    def _get_monitoring_job(self, name: str, **_: Any) -> str:
        return v1.ModelDeploymentMonitoringJob.to_json(self._monitoring_job(name))

    def _update_monitoring_job(self, name: str, query: dict[str, list[str]], body: bytes, fault: str | None,
                               **_: Any) -> str:
        patch: v1.ModelDeploymentMonitoringJob = self._parse(body, v1.ModelDeploymentMonitoringJob)
        job = self._monitoring_job(name)
        if patch.name and patch.name != name:
            raise HttpError(400, f"the body names {patch.name}, the path {name}", "INVALID_ARGUMENT")
        paths = [re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), p)
                 for p in ",".join(query.get("updateMask", [])).split(",") if p]
        self.monitoring_updates.append(paths)
        if not paths:
            raise HttpError(400, "update_mask is required", "INVALID_ARGUMENT")
        if set(paths) - _MDM_UPDATABLE:
            raise HttpError(400, f"fields {sorted(set(paths) - _MDM_UPDATABLE)} cannot be updated",
                            "INVALID_ARGUMENT")
        if "model_deployment_monitoring_objective_configs" in paths:
            self._valid_objectives(v1.ModelDeploymentMonitoringJob(
                endpoint=job.endpoint,
                model_deployment_monitoring_objective_configs=patch.model_deployment_monitoring_objective_configs))
        updated = v1.ModelDeploymentMonitoringJob(job)
        for path in paths:
            if path in patch:
                setattr(updated, path, getattr(patch, path))
            else:
                delattr(updated, path)  # in the mask but not in the body: cleared
        updated.update_time = _now()

        def apply() -> None:
            self.monitoring_jobs[name] = updated

        return self._op(name, updated, apply, fault)

    def _delete_monitoring_job(self, name: str, fault: str | None, **_: Any) -> str:
        job = self._monitoring_job(name)
        if self.pause_before_delete and job.state == v1.JobState.JOB_STATE_RUNNING:
            raise HttpError(400, f"monitoring job {name} is running; pause it first", "FAILED_PRECONDITION")
        return self._op(name, None, lambda: self.monitoring_jobs.pop(name, None), fault)

    def _pause_monitoring_job(self, name: str, body: bytes, **_: Any) -> str:
        req: v1.PauseModelDeploymentMonitoringJobRequest = self._parse(
            body, v1.PauseModelDeploymentMonitoringJobRequest)
        if req.name:
            self.violations.append("pause with a body (the request body must be empty)")
        self._monitoring_job(name).state = v1.JobState.JOB_STATE_PAUSED
        return "{}"


class _Handler(BaseHTTPRequestHandler):
    fake: FakeVertex
    timeout = 5  # a stuck client cannot hold the (single) server thread forever

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            code, payload = self.fake.handle(self.command, self.path, self.headers, body)
        except Exception as exc:  # a bug in the fake: report it as a 500 the test will see
            self.fake.violations.append(f"fake crashed on {self.command} {self.path}: {exc!r}")
            code, payload = 500, json.dumps({"error": {"code": 500, "message": "fake crashed", "status": "INTERNAL"}})
        data = payload.encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return None


class FakeVertexServer:
    """The fake on 127.0.0.1, an ephemeral port, one serving thread that `stop` joins."""

    def __init__(self, fake: FakeVertex) -> None:
        handler = type("Handler", (_Handler,), {"fake": fake})
        self.fake = fake
        self.httpd = HTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-vertex", daemon=True)

    def start(self) -> FakeVertexServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
        assert not self._thread.is_alive(), "fake Vertex server thread did not stop"

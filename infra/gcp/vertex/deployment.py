"""A model version deployed to a Vertex endpoint, with its traffic, as a dynamic resource
(`pulumi-python:dynamic/vertex:Deployment`).

The endpoint itself is pulumi-gcp's `AiEndpoint` (give it `ignore_changes=["trafficSplit"]`: this resource
owns the traffic). A new model version, machine type or service account is an in-place *update* that does
the blue/green swap itself: the new deployed model is deployed at 0 %, takes traffic (at once, or a canary
share that bakes while `health_check` is polled), then 100 %, and only then is the old one undeployed. The
endpoint's traffic so never points at nothing, and if the canary's alert fires the traffic goes back to the
old model, the new one is undeployed and the update fails saying why. Replica and autoscaling changes are
a `mutate_deployed_model`. Any failure after a deploy succeeded undeploys what it deployed before the error
propagates, so no deployed model is left behind (and billed) unknown to the state.

The Pulumi id is the first deployed model's id and stays fixed (Pulumi cannot change an id in `update`);
the `deployed_model_id` output is the one serving now, and read/update/delete use it.
"""

# pyright: strict

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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

from infra.gcp.vertex.clients import Vertex, VertexError, VertexNotFound, VertexSettings, region_of

CPU_METRIC = "aiplatform.googleapis.com/prediction/online/cpu/utilization"
ROLLOUTS = ("all-at-once", "canary")
REPLACE_KEYS = ("endpoint",)  # a deployed model cannot move between endpoints
SWAP_KEYS = ("model", "machine_type", "service_account", "display_name")  # blue/green inside `update`
SCALE_KEYS = ("min_replicas", "max_replicas", "cpu_target")  # mutate_deployed_model
ROLLOUT_KEYS = ("rollout", "step_percent", "bake_seconds")  # how the next swap goes; no call of their own
INPUT_KEYS = REPLACE_KEYS + SWAP_KEYS + SCALE_KEYS + ROLLOUT_KEYS
_SCALE_MASK = ["dedicated_resources.min_replica_count", "dedicated_resources.max_replica_count",
               "dedicated_resources.autoscaling_metric_specs"]


@dataclass(frozen=True)
class BakeContext:
    """What a health check sees while a canary bakes."""

    endpoint: str
    new_deployed_model_id: str
    old_deployed_model_id: str
    elapsed_s: float


# Returns None while healthy, or the reason to roll back (e.g. "alert p99-latency is firing").
HealthCheck = Callable[[BakeContext], "str | None"]


class VertexRolloutFailed(VertexError):
    """The canary was rolled back: the old model has all the traffic again, the new one is undeployed."""


def normalize(props: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs as compared by `diff`, with defaults filled."""
    min_replicas = int(props.get("min_replicas") or 1)
    return {
        **{k: str(props.get(k) or "") for k in ("endpoint", "model", "machine_type", "service_account")},
        "display_name": str(props.get("display_name") or "modelstage"),
        "min_replicas": min_replicas,
        "max_replicas": int(props.get("max_replicas") or min_replicas),
        "cpu_target": int(props.get("cpu_target") or 0),
        "rollout": str(props.get("rollout") or "all-at-once"),
        "step_percent": int(10 if props.get("step_percent") is None else props["step_percent"]),
        "bake_seconds": float(props.get("bake_seconds") or 0),
    }


def _dedicated(norm: Mapping[str, Any]) -> Any:
    from google.cloud.aiplatform_v1 import AutoscalingMetricSpec, DedicatedResources, MachineSpec

    specs = [AutoscalingMetricSpec(metric_name=CPU_METRIC, target=norm["cpu_target"])] if norm["cpu_target"] else []
    return DedicatedResources(machine_spec=MachineSpec(machine_type=norm["machine_type"]),
                              min_replica_count=norm["min_replicas"], max_replica_count=norm["max_replicas"],
                              autoscaling_metric_specs=specs)


def _versioned(deployed: Any) -> str:
    model = str(deployed.model)
    return model if "@" in model or not deployed.model_version_id else f"{model}@{deployed.model_version_id}"


def _rest_split(split: Mapping[str, int], gone: str, remaining: list[str]) -> dict[str, int]:
    """The traffic once `gone` is undeployed: the others' shares scaled to 100 (all to the newest if they had none)."""
    kept = {k: int(v) for k, v in split.items() if k != gone and k in remaining}
    total = sum(kept.values())
    if not remaining:
        return {}
    if total == 0:
        return {remaining[-1]: 100}
    scaled = {k: v * 100 // total for k, v in kept.items()}
    top = max(scaled, key=lambda k: scaled[k])
    scaled[top] += 100 - sum(scaled.values())
    return scaled


class VertexDeploymentProvider(ResourceProvider):
    """Deploy, swap, scale and undeploy one deployed model. Holds settings and the hook only (pickled by dill)."""

    def __init__(self, settings: VertexSettings | None = None, health_check: HealthCheck | None = None,
                 bake_poll_s: float = 30.0) -> None:
        super().__init__()
        self.settings = settings or VertexSettings()
        self.health_check = health_check
        self.bake_poll_s = bake_poll_s

    # -- calls ------------------------------------------------------------------------------------------
    def _vertex(self, norm: Mapping[str, Any]) -> Vertex:
        return Vertex(self.settings, region_of(norm["endpoint"]))

    def _endpoint(self, vx: Vertex, endpoint: str) -> Any:
        return vx.call("get endpoint", endpoint, lambda: vx.endpoints.get_endpoint(name=endpoint, **vx.rpc))

    def _deploy(self, vx: Vertex, norm: Mapping[str, Any], split: dict[str, int]) -> str:
        from google.cloud.aiplatform_v1 import DeployedModel

        deployed = DeployedModel(model=norm["model"], display_name=norm["display_name"],
                                 dedicated_resources=_dedicated(norm), service_account=norm["service_account"])
        result = vx.run("deploy_model to", norm["endpoint"], lambda: vx.endpoints.deploy_model(
            endpoint=norm["endpoint"], deployed_model=deployed, traffic_split=split, **vx.rpc))
        return str(result.deployed_model.id)

    def _set_traffic(self, vx: Vertex, endpoint: str, split: dict[str, int]) -> None:
        from google.protobuf.field_mask_pb2 import FieldMask

        live = self._endpoint(vx, endpoint)
        live.traffic_split = split
        vx.call("update traffic of", endpoint, lambda: vx.endpoints.update_endpoint(
            endpoint=live, update_mask=FieldMask(paths=["traffic_split"]), **vx.rpc))

    def _undeploy(self, vx: Vertex, endpoint: str, deployed_model_id: str, split: dict[str, int]) -> None:
        vx.run(f"undeploy_model {deployed_model_id} from", endpoint, lambda: vx.endpoints.undeploy_model(
            endpoint=endpoint, deployed_model_id=deployed_model_id, traffic_split=split, **vx.rpc))

    def _undeploy_after_failure(self, vx: Vertex, endpoint: str, new_id: str, old_id: str | None,
                                cause: BaseException) -> None:
        """Give the old model all traffic back and undeploy the new one; a failure here is named with the cause."""
        try:
            self._undeploy(vx, endpoint, new_id, {old_id: 100} if old_id else {})
        except VertexError as exc:
            raise VertexError(f"{cause}; and undeploying the new deployed model {new_id} from {endpoint} failed "
                              f"too ({exc}): undeploy it by hand") from None

    def _bake(self, endpoint: str, new_id: str, old_id: str, seconds: float) -> str | None:
        """Poll the health check until the bake time is over; the first reason it gives ends the bake."""
        start = time.monotonic()
        while True:
            elapsed = time.monotonic() - start
            if self.health_check is not None:
                reason = self.health_check(BakeContext(endpoint, new_id, old_id, elapsed))
                if reason:
                    return reason
            remaining = seconds - (time.monotonic() - start)
            if remaining <= 0:
                return None
            time.sleep(min(self.bake_poll_s, remaining))

    # -- rollout ----------------------------------------------------------------------------------------
    def _find(self, live: Any, norm: Mapping[str, Any]) -> str | None:
        """A deployed model on the endpoint that is already this one (left by an interrupted run)."""
        for d in live.deployed_models:
            if (d.display_name == norm["display_name"] and _versioned(d) == norm["model"]
                    and d.dedicated_resources.machine_spec.machine_type == norm["machine_type"]
                    and d.service_account == norm["service_account"]):
                return str(d.id)
        return None

    def _roll_out(self, vx: Vertex, norm: Mapping[str, Any], old_id: str | None) -> str:
        """Bring the deployed model `norm` describes to 100 % of the traffic and undeploy `old_id`."""
        endpoint = norm["endpoint"]
        live = self._endpoint(vx, endpoint)
        live_ids = [str(d.id) for d in live.deployed_models]
        old = old_id if old_id in live_ids else None
        new_id = self._find(live, norm)
        if new_id is not None and new_id == old:
            return new_id
        if old is None:
            if new_id is None:  # nothing to move from: the deploy itself takes all the traffic
                return self._deploy(vx, norm, {"0": 100})
            if dict(live.traffic_split).get(new_id, 0) != 100:
                self._set_traffic(vx, endpoint, {new_id: 100})
            return new_id
        if new_id is None:
            new_id = self._deploy(vx, norm, {"0": 0, old: 100})
        try:
            if norm["rollout"] == "canary" and norm["step_percent"] < 100:
                step = norm["step_percent"]
                self._set_traffic(vx, endpoint, {new_id: step, old: 100 - step})
                reason = self._bake(endpoint, new_id, old, norm["bake_seconds"])
                if reason:
                    self._undeploy_after_failure(vx, endpoint, new_id, old, VertexError(reason))
                    raise VertexRolloutFailed(
                        f"canary of {norm['model']} on {endpoint} rolled back after {step}% of the traffic: "
                        f"{reason}; the previous deployed model {old} has 100% again")
            self._set_traffic(vx, endpoint, {new_id: 100, old: 0})
        except VertexRolloutFailed:
            raise
        except BaseException as exc:
            self._undeploy_after_failure(vx, endpoint, new_id, old, exc)
            raise
        # The new one serves everything now; failing to undeploy the old one leaves it idle, and a re-run finishes.
        self._undeploy(vx, endpoint, old, {new_id: 100})
        return new_id

    # -- provider interface -----------------------------------------------------------------------------
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        norm = normalize(news)
        failures: list[CheckFailure] = []
        if norm["rollout"] not in ROLLOUTS:
            failures.append(CheckFailure("rollout", f"must be one of {', '.join(ROLLOUTS)}, not {norm['rollout']!r}"))
        if not 0 < norm["step_percent"] <= 100:
            failures.append(CheckFailure("step_percent", f"must be in 1..100, not {norm['step_percent']}"))
        if norm["max_replicas"] < norm["min_replicas"]:
            failures.append(CheckFailure("max_replicas", "must be at least min_replicas"))
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        norm = normalize(props)
        vx = self._vertex(norm)
        deployed_id = self._roll_out(vx, norm, None)
        return CreateResult(id_=deployed_id, outs={**norm, "deployed_model_id": deployed_id})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        norm = normalize(props)
        deployed_id = str(props.get("deployed_model_id") or id_)
        vx = self._vertex(norm)
        try:
            live = self._endpoint(vx, norm["endpoint"])
        except VertexNotFound:
            return ReadResult(id_="", outs={})
        for d in live.deployed_models:
            if str(d.id) == deployed_id:
                res = d.dedicated_resources
                specs = [s.target for s in res.autoscaling_metric_specs if s.metric_name == CPU_METRIC]
                outs = {**norm, "model": _versioned(d), "display_name": d.display_name,
                        "machine_type": res.machine_spec.machine_type, "service_account": d.service_account,
                        "min_replicas": res.min_replica_count, "max_replicas": res.max_replica_count,
                        "cpu_target": specs[0] if specs else 0}
                return ReadResult(id_=id_, outs={**normalize(outs), "deployed_model_id": deployed_id})
        return ReadResult(id_="", outs={})

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        old, new = normalize(_olds), normalize(_news)
        changed = [k for k in INPUT_KEYS if old[k] != new[k]]
        return DiffResult(changes=bool(changed), replaces=[k for k in changed if k in REPLACE_KEYS],
                          stables=list(REPLACE_KEYS), delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> UpdateResult:
        from google.cloud.aiplatform_v1 import DeployedModel

        old, new = normalize(_olds), normalize(_news)
        current = str(_olds.get("deployed_model_id") or _id)
        vx = self._vertex(new)
        if any(old[k] != new[k] for k in SWAP_KEYS):
            current = self._roll_out(vx, new, current)
        elif any(old[k] != new[k] for k in SCALE_KEYS):
            from google.protobuf.field_mask_pb2 import FieldMask

            deployed = DeployedModel(id=current, model=new["model"], dedicated_resources=_dedicated(new))
            vx.run(f"mutate_deployed_model {current} on", new["endpoint"], lambda: vx.endpoints.mutate_deployed_model(
                endpoint=new["endpoint"], deployed_model=deployed, update_mask=FieldMask(paths=_SCALE_MASK),
                **vx.rpc))
        return UpdateResult(outs={**new, "deployed_model_id": current})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        norm = normalize(_props)
        deployed_id = str(_props.get("deployed_model_id") or _id)
        vx = self._vertex(norm)
        try:
            live = self._endpoint(vx, norm["endpoint"])
        except VertexNotFound:
            return
        ids = [str(d.id) for d in live.deployed_models]
        if deployed_id not in ids:
            return
        remaining = [i for i in ids if i != deployed_id]
        try:
            self._undeploy(vx, norm["endpoint"], deployed_id,
                           _rest_split(dict(live.traffic_split), deployed_id, remaining))
        except VertexNotFound:
            return


class VertexDeployment(pulumi.dynamic.Resource, module="vertex", name="Deployment"):
    """A model version serving on an `AiEndpoint`, with the traffic moved by its rollout."""

    deployed_model_id: pulumi.Output[str]

    def __init__(self, name: str, *, endpoint: pulumi.Input[str], model: pulumi.Input[str], machine_type: str,
                 service_account: pulumi.Input[str], min_replicas: int = 1, max_replicas: int | None = None,
                 cpu_target: int = 0, display_name: str = "modelstage", rollout: str = "all-at-once",
                 step_percent: int = 10, bake_seconds: float = 600.0, settings: VertexSettings | None = None,
                 health_check: HealthCheck | None = None, opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "endpoint": endpoint, "model": model, "machine_type": machine_type, "service_account": service_account,
            "min_replicas": min_replicas, "max_replicas": max_replicas or min_replicas, "cpu_target": cpu_target,
            "display_name": display_name, "rollout": rollout, "step_percent": step_percent,
            "bake_seconds": bake_seconds, "deployed_model_id": None,
        }
        provider = VertexDeploymentProvider(settings, health_check)
        super().__init__(provider, name, props, opts)

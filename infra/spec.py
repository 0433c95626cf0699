"""The deployment spec: stack config read once into frozen dataclasses and validated.

`parse_spec` is a pure function from config values (as the CLI passes them: strings, or native
values in tests) to a `DeploymentSpec`; `read_spec` is the thin reader over `pulumi.Config`. Every
problem is collected and reported at once in a `SpecError` naming the key, the value and what is
allowed. This module holds what every cloud has; the stack's cloud package (infra/clouds.py) reads
its own section into `spec.section` and checks its own forms of the shared values (instance types,
schedule syntax, retention values, rollout limits), so no cloud ever sees another's rules or defaults.
"""

# pyright: strict

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, NoReturn, TypeVar, cast

from infra import clouds
from infra.config_reader import ConfigReader
from infra.errors import SpecError
from infra.spec_keys import BY_NAME, KEYS, PROJECT, Key, Value, qualified

Environment = Literal["dev", "staging", "prod"]
EndpointKind = Literal["realtime", "serverless"]
Strategy = Literal["all-at-once", "canary", "linear"]

ENVIRONMENTS: tuple[Environment, ...] = ("dev", "staging", "prod")
ENDPOINT_KINDS: tuple[EndpointKind, ...] = ("realtime", "serverless")
STRATEGIES: tuple[Strategy, ...] = ("all-at-once", "canary", "linear")
NAME_RE = re.compile(r"^[a-z0-9](?:-?[a-z0-9])*$")
IMAGE_RE = re.compile(
    r"^(?P<registry>[a-z0-9.-]+(?::\d+)?)/(?P<repository>[a-z0-9._/-]+)@sha256:[0-9a-f]{64}$")

S = TypeVar("S")
T = TypeVar("T")


@dataclass(frozen=True)
class Scaling:
    min_instances: int
    max_instances: int
    target_invocations_per_instance: int


@dataclass(frozen=True)
class Rollout:
    strategy: Strategy
    step_percent: int
    bake_seconds: int
    rollback_on_alarms: bool


@dataclass(frozen=True)
class Monitoring:
    latency_p99_ms: int
    error_rate_percent: int
    drift_threshold_percent: int
    data_capture_percent: int
    monitor_schedule: str | None  # None: no scheduled drift check

    @property
    def capture_enabled(self) -> bool:
        return self.data_capture_percent > 0


@dataclass(frozen=True)
class Batch:
    schedule: str | None  # None: no scheduled batch scoring
    input_prefix: str
    output_prefix: str
    instance_type: str
    instance_count: int

    @property
    def enabled(self) -> bool:
        return self.schedule is not None


@dataclass(frozen=True)
class Retention:
    log_days: int
    artifact_noncurrent_days: int
    capture_days: int


@dataclass(frozen=True)
class DeploymentSpec(Generic[S]):
    cloud: str  # a name in infra.clouds
    environment: Environment
    region: str  # opaque here; the cloud checks it
    name: str | None  # None: <bundle name>-<environment>, decided once the bundle is loaded
    bundle_path: str
    image: str | None  # None: build and push the image during `pulumi up`
    endpoint_kind: EndpointKind
    instance_type: str  # opaque here; the cloud checks it and gives the default
    scaling: Scaling
    rollout: Rollout
    monitoring: Monitoring
    batch: Batch
    retention: Retention
    protected: bool
    section: S  # the cloud's own settings (AwsSpec on AWS)

    @property
    def serverless(self) -> bool:
        return self.endpoint_kind == "serverless"

    def with_section(self, section: T) -> DeploymentSpec[T]:
        return cast("DeploymentSpec[T]", dataclasses.replace(cast(Any, self), section=section))


def _normalise(values: Mapping[str, object], keys: Mapping[str, Key]) -> tuple[dict[str, object], list[str]]:
    """Strip the project namespace, drop other namespaces (aws:region, ...), flag unknown keys."""
    out: dict[str, object] = {}
    problems: list[str] = []
    for raw_key, value in values.items():
        namespace, _, key = raw_key.rpartition(":")
        if namespace not in ("", PROJECT):
            continue
        if key not in keys:
            close = difflib.get_close_matches(key, list(keys), n=1)
            hint = f"; did you mean {qualified(close[0])}?" if close else ""
            problems.append(f"{qualified(key)}: unknown config key{hint}")
            continue
        out[key] = value
    return out, problems


def _foreign_keys(values: Mapping[str, object], own: str, every: list[clouds.Cloud[Any]]) -> list[str]:
    """Keys of another cloud set to something other than their default: a stack for one cloud that
    carries another's settings is most likely a copy that was not finished."""
    problems: list[str] = []
    for cloud in every:
        if cloud.name == own:
            continue
        for key in cloud.keys:
            value = values.get(key.name)
            if value is not None and str(value).lower() != str(key.default).lower():
                problems.append(f"{qualified(key.name)}: a {cloud.name} key, but this stack deploys to {own}; "
                                f"remove it or set {qualified('cloud')}: {cloud.name}")
    return problems


def _prefix(r: ConfigReader, key: str) -> str:
    value = r.string(key)
    r.check(key, bool(value) and not value.startswith("/") and value.endswith("/") and "//" not in value,
            f"{value!r} must be a key prefix like 'batch/input/' (no leading '/', ending in '/')")
    return value


def _image(r: ConfigReader) -> str | None:
    value = r.optional("image")
    if value is not None and IMAGE_RE.match(value) is None:
        r.fail("image", f"{value!r} is not an image referenced by digest; expected "
                        "REGISTRY/REPOSITORY@sha256:<64 hex> (a tag can move, a digest cannot)")
    return value


def _shared(r: ConfigReader, cloud: str, name_max: int) -> DeploymentSpec[None]:
    environment = r.choice("environment", ENVIRONMENTS)
    region = r.string("region")
    name = r.optional("name")
    r.check("name", name is None or (NAME_RE.match(name) is not None and len(name) <= name_max),
            f"{name!r} is not a usable name; expected lowercase letters, digits and single hyphens, "
            f"at most {name_max} characters")
    bundle_path = r.string("bundlePath")
    r.check("bundlePath", bool(bundle_path),
            "must name the bundle directory (run `modelstage package` to make one)")
    scaling = Scaling(r.integer("minInstances", 1, 100), r.integer("maxInstances", 1, 100),
                      r.integer("targetInvocationsPerInstance", 1))
    r.check("maxInstances", scaling.max_instances >= scaling.min_instances,
            f"{scaling.max_instances} is below minInstances {scaling.min_instances}; "
            "expected maxInstances >= minInstances")
    rollout = Rollout(r.choice("rolloutStrategy", STRATEGIES), r.integer("rolloutStepPercent", 1, 100),
                      r.integer("rolloutBakeSeconds", 0, 3600), r.boolean("rollbackOnAlarms"))
    monitoring = Monitoring(
        latency_p99_ms=r.integer("alarmLatencyP99Ms", 1, 60000),
        error_rate_percent=r.integer("alarmErrorRatePercent", 1, 100),
        drift_threshold_percent=r.integer("driftThresholdPercent", 1, 100),
        data_capture_percent=r.integer("dataCapturePercent", 0, 100),
        monitor_schedule=r.optional("monitorSchedule"),
    )
    r.check("monitorSchedule", monitoring.monitor_schedule is None or monitoring.capture_enabled,
            "a drift check reads captured requests; set dataCapturePercent above 0 "
            "or leave monitorSchedule empty")
    batch = Batch(
        schedule=r.optional("batchSchedule"),
        input_prefix=_prefix(r, "batchInputPrefix"),
        output_prefix=_prefix(r, "batchOutputPrefix"),
        instance_type=r.string("batchInstanceType"),
        instance_count=r.integer("batchInstanceCount", 1, 100),
    )
    r.check("batchOutputPrefix", not (batch.output_prefix.startswith(batch.input_prefix)
                                      or batch.input_prefix.startswith(batch.output_prefix)),
            f"{batch.output_prefix!r} overlaps batchInputPrefix {batch.input_prefix!r}; predictions would be "
            "scored again on the next run")
    retention = Retention(r.integer("logRetentionDays", 1), r.integer("artifactRetentionDays", 1),
                          r.integer("captureRetentionDays", 1))
    protected = r.boolean("protected")
    r.check("protected", environment != "prod" or protected,
            "a prod stack must set protected: true, so `pulumi destroy` can never delete a prod model")
    return DeploymentSpec(
        cloud=cloud, environment=environment, region=region, name=name, bundle_path=bundle_path,
        image=_image(r), endpoint_kind=r.choice("endpointKind", ENDPOINT_KINDS),
        instance_type=r.string("instanceType"), scaling=scaling, rollout=rollout, monitoring=monitoring,
        batch=batch, retention=retention, protected=protected, section=None,
    )


def all_keys() -> dict[str, Key]:
    """Every key a stack may set: the shared ones and each registered cloud's."""
    keys = dict(BY_NAME)
    for cloud in clouds.every():
        keys.update((k.name, k) for k in cloud.keys)
    return keys


def parse_spec(values: Mapping[str, object]) -> DeploymentSpec[Any]:
    """Config values (keys with or without the `modelstage:` namespace) -> a validated spec."""
    every = clouds.every()
    keys = all_keys()
    normalised, problems = _normalise(values, keys)
    r = ConfigReader(normalised, keys)
    r.problems.extend(problems)
    name = r.string("cloud")
    if name not in clouds.names():
        if name:
            r.fail("cloud", f"{name!r} is not a cloud modelstage can deploy to; "
                            f"expected one of {', '.join(clouds.names())}")
        _raise(r.problems)  # without a cloud, its section and its forms of the values cannot be checked
    cloud = clouds.get(name)
    r.problems.extend(_foreign_keys(normalised, name, every))
    r.cloud_defaults = cloud.defaults
    shared = _shared(r, name, cloud.name_max)
    spec = shared.with_section(cloud.parse_section(r, shared))
    if r.problems:
        _raise(r.problems)
    return spec


def _raise(problems: list[str]) -> NoReturn:
    lines = "\n".join(f"  - {p}" for p in problems)
    raise SpecError(f"the stack configuration has {len(problems)} problem(s):\n{lines}")


def _config_values(get: Callable[[str], str | None], names: list[str]) -> dict[str, object]:
    return {name: value for name in sorted(set(names)) if (value := get(name)) is not None}


def read_spec() -> DeploymentSpec[Any]:
    """Read the stack's config through pulumi.Config (the CLI has applied Pulumi.yaml's defaults)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    cfg = pulumi.Config(PROJECT)
    # Keys the stack sets but the tables lack are passed on too, so a typo is reported, not ignored.
    every: dict[str, object] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    present = [k.split(":", 1)[1] for k in every if k.startswith(PROJECT + ":")]
    return parse_spec(_config_values(cfg.get, [*all_keys(), *present]))


__all__ = [
    "KEYS", "Batch", "DeploymentSpec", "Monitoring", "Retention", "Rollout", "Scaling", "Value",
    "parse_spec", "read_spec",
]

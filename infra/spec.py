"""The deployment spec: stack config read once into frozen dataclasses and validated.

`parse_spec` is a pure function from config values (as the CLI passes them: strings, or native
values in tests) to a `DeploymentSpec`; `read_spec` is the thin reader over `pulumi.Config`. Every
problem is collected and reported at once in a `SpecError` naming the key, the value and what is
allowed. The same spec serves every cloud; knobs only one cloud has live in `spec.aws`.
"""

# pyright: strict

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar, cast

from infra.errors import SpecError
from infra.spec_keys import BY_NAME, PROJECT, Value, qualified

Cloud = Literal["aws", "gcp", "azure"]
Environment = Literal["dev", "staging", "prod"]
EndpointKind = Literal["realtime", "serverless"]
Strategy = Literal["all-at-once", "canary", "linear"]
ApprovalStatus = Literal["Approved", "PendingManualApproval"]

CLOUDS: tuple[Cloud, ...] = ("aws", "gcp", "azure")
ENVIRONMENTS: tuple[Environment, ...] = ("dev", "staging", "prod")
ENDPOINT_KINDS: tuple[EndpointKind, ...] = ("realtime", "serverless")
STRATEGIES: tuple[Strategy, ...] = ("all-at-once", "canary", "linear")
APPROVAL_STATUSES: tuple[ApprovalStatus, ...] = ("Approved", "PendingManualApproval")
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
MAX_ROLLOUT_SECONDS = 14400  # SageMaker's MaximumExecutionTimeoutInSeconds ceiling
# Rollback alarms: one-minute periods, two bad ones out of three. A bake shorter than that window ends
# before an alarm can fire, so the rollout would never roll back. (infra/aws/alarms.py uses these.)
ALARM_PERIOD_SECONDS = 60
ALARM_EVALUATION_PERIODS = 3
ALARM_DATAPOINTS = 2
MIN_BAKE_WITH_ROLLBACK_SECONDS = ALARM_PERIOD_SECONDS * ALARM_EVALUATION_PERIODS
BURSTABLE_RE = re.compile(r"^ml\.t\d+[a-z]*\.")  # ml.t2.medium, ml.t3.large: SageMaker cannot autoscale them
MIN_ROLLOUT_SECONDS = 600

NAME_RE = re.compile(r"^[a-z0-9](?:-?[a-z0-9])*$")
# The provider names endpoint configs <name>-<26 unique characters>; SageMaker allows 63 in all.
NAME_MAX = 36
IMAGE_RE = re.compile(
    r"^(?P<registry>[a-z0-9.-]+(?::\d+)?)/(?P<repository>[a-z0-9._/-]+)@sha256:[0-9a-f]{64}$")
ECR_REGISTRY_RE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
AWS_REGION_RE = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d$")
AWS_INSTANCE_RE = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")
GRAVITON_RE = re.compile(r"^ml\.[a-z]+\d+g[a-z]*\.")  # ml.c7g.large, ml.m6gd.xlarge: arm64 hosts
SCHEDULE_RE = re.compile(r"^(cron|rate|at)\(.+\)$")


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
class AwsSpec:
    serverless_memory_mb: int
    serverless_max_concurrency: int
    approval_status: ApprovalStatus
    alarm_email: str | None
    monitor_instance_type: str
    model_monitor_image: str | None  # None: the AWS-owned analyzer image of the region
    startup_timeout_seconds: int


@dataclass(frozen=True)
class DeploymentSpec:
    cloud: Cloud
    environment: Environment
    region: str
    name: str | None  # None: <bundle name>-<environment>, decided once the bundle is loaded
    bundle_path: str
    image: str | None  # None: build and push the image during `pulumi up`
    endpoint_kind: EndpointKind
    instance_type: str
    scaling: Scaling
    rollout: Rollout
    monitoring: Monitoring
    batch: Batch
    retention: Retention
    protected: bool
    aws: AwsSpec

    @property
    def serverless(self) -> bool:
        return self.endpoint_kind == "serverless"


T = TypeVar("T")


class _Reader:
    """Typed access to raw config values that records every problem instead of stopping at the first."""

    def __init__(self, values: Mapping[str, object]) -> None:
        self.values = values
        self.problems: list[str] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"{qualified(key)}: {message}")

    def raw(self, key: str) -> object:
        value = self.values.get(key)
        return BY_NAME[key].default if value is None else value

    def string(self, key: str) -> str:
        value = self.raw(key)
        if value is None:
            self.fail(key, "required but not set (pulumi config set " + qualified(key) + " VALUE)")
            return ""
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {value!r}")
            return ""
        return value.strip()

    def optional(self, key: str) -> str | None:
        return self.string(key) or None

    def integer(self, key: str, lo: int, hi: int | float = math.inf) -> int:
        value = self.raw(key)
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(key, f"expected a whole number, got {value!r}")
            return lo
        if not lo <= value <= hi:
            bound = f"at least {lo}" if hi == math.inf else f"between {lo} and {int(hi)}"
            self.fail(key, f"{value} is out of range; expected {bound}")
            return lo
        return value

    def boolean(self, key: str) -> bool:
        value = self.raw(key)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {value!r}")
            return False
        return value

    def choice(self, key: str, allowed: Sequence[T]) -> T:
        value = self.string(key)
        if value not in cast(Sequence[object], allowed):
            if value or self.raw(key) is not None:
                self.fail(key, f"{value!r} is not allowed; expected one of {', '.join(map(str, allowed))}")
            return allowed[0]
        return cast(T, value)

    def check(self, key: str, ok: bool, message: str) -> None:
        if not ok:
            self.fail(key, message)


def _normalise(values: Mapping[str, object]) -> tuple[dict[str, object], list[str]]:
    """Strip the project namespace, drop other namespaces (aws:region, ...), flag unknown keys."""
    out: dict[str, object] = {}
    problems: list[str] = []
    for raw_key, value in values.items():
        namespace, _, key = raw_key.rpartition(":")
        if namespace not in ("", PROJECT):
            continue
        if key not in BY_NAME:
            close = difflib.get_close_matches(key, list(BY_NAME), n=1)
            hint = f"; did you mean {qualified(close[0])}?" if close else ""
            problems.append(f"{qualified(key)}: unknown config key{hint}")
            continue
        out[key] = value
    return out, problems


def _prefix(r: _Reader, key: str) -> str:
    value = r.string(key)
    r.check(key, bool(value) and not value.startswith("/") and value.endswith("/") and "//" not in value,
            f"{value!r} must be a key prefix like 'batch/input/' (no leading '/', ending in '/')")
    return value


def _schedule(r: _Reader, key: str, kinds: tuple[str, ...]) -> str | None:
    value = r.optional(key)
    if value is not None:
        m = SCHEDULE_RE.match(value)
        r.check(key, m is not None and m.group(1) in kinds,
                f"{value!r} is not a schedule; expected {' or '.join(k + '(...)' for k in kinds)} or empty")
    return value


def _image(r: _Reader, region: str, cloud: str) -> str | None:
    value = r.optional("image")
    if value is None:
        return None
    m = IMAGE_RE.match(value)
    if m is None:
        r.fail("image", f"{value!r} is not an image referenced by digest; expected "
                        "REGISTRY/REPOSITORY@sha256:<64 hex> (a tag can move, a digest cannot)")
        return value
    if cloud == "aws":
        ecr = ECR_REGISTRY_RE.match(m.group("registry"))
        r.check("image", ecr is not None and ecr.group("region") == region,
                f"SageMaker pulls only from ECR in the endpoint's region; expected "
                f"<account>.dkr.ecr.{region}.amazonaws.com/..., got registry {m.group('registry')!r}")
    return value


def rollout_seconds(rollout: Rollout, startup_seconds: int) -> int:
    """How long SageMaker may take over a rollout: new instances start, each traffic step bakes, the old
    fleet waits out a final bake; plus a margin. Used as the rollout's execution timeout."""
    if rollout.strategy == "canary":
        waits = 1
    elif rollout.strategy == "linear":
        waits = math.ceil(100 / max(rollout.step_percent, 1)) - 1
    else:
        waits = 0
    total = startup_seconds + waits * rollout.bake_seconds + rollout.bake_seconds + MIN_ROLLOUT_SECONDS
    return total


def _rollout(r: _Reader, scaling: Scaling, serverless: bool, startup_seconds: int) -> Rollout:
    strategy = r.choice("rolloutStrategy", STRATEGIES)
    step = r.integer("rolloutStepPercent", 1, 100)
    bake = r.integer("rolloutBakeSeconds", 0, 3600)
    rollback = r.boolean("rollbackOnAlarms")
    r.check("rolloutBakeSeconds", not rollback or serverless or bake >= MIN_BAKE_WITH_ROLLBACK_SECONDS,
            f"{bake} s is shorter than the rollback alarms' {MIN_BAKE_WITH_ROLLBACK_SECONDS} s window, so no "
            f"alarm could roll the update back; expected at least {MIN_BAKE_WITH_ROLLBACK_SECONDS}, "
            "or rollbackOnAlarms: false")
    if strategy == "canary":
        r.check("rolloutStepPercent", step <= 50,
                f"{step} is out of range for a canary; expected 1 to 50 (SageMaker)")
    if strategy == "linear":
        r.check("rolloutStepPercent", 10 <= step <= 50,
                f"{step} is out of range for a linear rollout; expected 10 to 50 (SageMaker)")
    if strategy != "all-at-once":
        r.check("rolloutStrategy", not serverless,
                f"{strategy} needs instances to shift traffic in steps; "
                "serverless endpoints roll out all-at-once")
        r.check("rolloutStrategy", serverless or scaling.min_instances >= 2,
                f"{strategy} with minInstances {scaling.min_instances}: a step must be at most half the "
                "fleet, so set minInstances to 2 or more, or use all-at-once")
        total = rollout_seconds(Rollout(strategy, step, bake, rollback), startup_seconds)
        r.check("rolloutBakeSeconds", total <= MAX_ROLLOUT_SECONDS,
                f"a {strategy} rollout with {bake} s bakes would take about {total} s, more than SageMaker's "
                f"{MAX_ROLLOUT_SECONDS} s limit; lower rolloutBakeSeconds or raise rolloutStepPercent")
    return Rollout(strategy, step, bake, rollback)


def _aws(r: _Reader, cloud: str, region: str) -> AwsSpec:
    memory = r.integer("awsServerlessMemoryMb", 1024, 6144)
    r.check("awsServerlessMemoryMb", memory in SERVERLESS_MEMORY_MB,
            f"{memory} is not a serverless memory size; expected one of "
            f"{', '.join(map(str, SERVERLESS_MEMORY_MB))}")
    email = r.optional("awsAlarmEmail")
    r.check("awsAlarmEmail", email is None or re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email) is not None,
            f"{email!r} is not an e-mail address")
    monitor_type = r.string("awsMonitorInstanceType")
    monitor_image = r.optional("awsModelMonitorImage")
    if cloud == "aws":
        r.check("region", AWS_REGION_RE.match(region) is not None,
                f"{region!r} is not an AWS region; expected a name like eu-west-1")
        r.check("awsMonitorInstanceType", AWS_INSTANCE_RE.match(monitor_type) is not None,
                f"{monitor_type!r} is not a SageMaker instance type; expected e.g. ml.m5.large")
        r.check("awsModelMonitorImage", monitor_image is None or "/" in monitor_image,
                f"{monitor_image!r} is not an image URI")
    return AwsSpec(
        serverless_memory_mb=memory,
        serverless_max_concurrency=r.integer("awsServerlessMaxConcurrency", 1, 200),
        approval_status=r.choice("awsApprovalStatus", APPROVAL_STATUSES),
        alarm_email=email,
        monitor_instance_type=monitor_type,
        model_monitor_image=monitor_image,
        startup_timeout_seconds=r.integer("awsStartupTimeoutSeconds", 60, 3600),
    )


def _instance_type(r: _Reader, key: str, cloud: str) -> str:
    value = r.string(key)
    if cloud == "aws":
        r.check(key, AWS_INSTANCE_RE.match(value) is not None,
                f"{value!r} is not a SageMaker instance type; expected e.g. ml.m5.large")
        r.check(key, GRAVITON_RE.match(value) is None,
                f"{value!r} is a Graviton (arm64) instance; the serving image is built for linux/amd64, "
                "so pick an x86 type such as ml.m5.large or ml.c5.large")
    return value


def parse_spec(values: Mapping[str, object]) -> DeploymentSpec:
    """Config values (keys with or without the `modelstage:` namespace) -> a validated spec."""
    normalised, problems = _normalise(values)
    r = _Reader(normalised)
    r.problems.extend(problems)

    cloud = r.choice("cloud", CLOUDS)
    environment = r.choice("environment", ENVIRONMENTS)
    region = r.string("region")
    name = r.optional("name")
    r.check("name", name is None or (NAME_RE.match(name) is not None and len(name) <= NAME_MAX),
            f"{name!r} is not a usable name; expected lowercase letters, digits and single hyphens, "
            f"at most {NAME_MAX} characters")
    bundle_path = r.string("bundlePath")
    r.check("bundlePath", bool(bundle_path),
            "must name the bundle directory (run `modelstage package` to make one)")
    kind = r.choice("endpointKind", ENDPOINT_KINDS)
    serverless = kind == "serverless"
    aws = _aws(r, cloud, region)

    scaling = Scaling(r.integer("minInstances", 1, 100), r.integer("maxInstances", 1, 100),
                      r.integer("targetInvocationsPerInstance", 1))
    r.check("maxInstances", scaling.max_instances >= scaling.min_instances,
            f"{scaling.max_instances} is below minInstances {scaling.min_instances}; "
            "expected maxInstances >= minInstances")

    monitoring = Monitoring(
        latency_p99_ms=r.integer("alarmLatencyP99Ms", 1, 60000),
        error_rate_percent=r.integer("alarmErrorRatePercent", 1, 100),
        drift_threshold_percent=r.integer("driftThresholdPercent", 1, 100),
        data_capture_percent=r.integer("dataCapturePercent", 0, 100),
        monitor_schedule=_schedule(r, "monitorSchedule", ("cron",)),
    )
    r.check("dataCapturePercent", not (serverless and monitoring.capture_enabled),
            f"{monitoring.data_capture_percent}: serverless endpoints cannot capture data (SageMaker "
            "rejects it); set dataCapturePercent to 0 or use endpointKind realtime")
    r.check("monitorSchedule", monitoring.monitor_schedule is None or monitoring.capture_enabled,
            "a drift check reads captured requests; set dataCapturePercent above 0 "
            "or leave monitorSchedule empty")

    batch = Batch(
        schedule=_schedule(r, "batchSchedule", ("cron", "rate", "at")),
        input_prefix=_prefix(r, "batchInputPrefix"),
        output_prefix=_prefix(r, "batchOutputPrefix"),
        instance_type=_instance_type(r, "batchInstanceType", cloud),
        instance_count=r.integer("batchInstanceCount", 1, 100),
    )
    r.check("batchOutputPrefix", not (batch.output_prefix.startswith(batch.input_prefix)
                                      or batch.input_prefix.startswith(batch.output_prefix)),
            f"{batch.output_prefix!r} overlaps batchInputPrefix {batch.input_prefix!r}; predictions would be "
            "scored again on the next run")

    log_days = r.integer("logRetentionDays", 1)
    r.check("logRetentionDays", log_days in LOG_RETENTION_DAYS,
            f"{log_days} is not a retention CloudWatch Logs offers; expected one of "
            f"{', '.join(map(str, LOG_RETENTION_DAYS))}")
    retention = Retention(log_days, r.integer("artifactRetentionDays", 1),
                          r.integer("captureRetentionDays", 1))

    protected = r.boolean("protected")
    r.check("protected", environment != "prod" or protected,
            "a prod stack must set protected: true, so `pulumi destroy` can never delete a prod model")

    instance_type = _instance_type(r, "instanceType", cloud)
    r.check("instanceType", serverless or BURSTABLE_RE.match(instance_type) is None
            or scaling.max_instances == scaling.min_instances,
            f"{instance_type} is a burstable instance, which SageMaker cannot autoscale; expected a type such "
            "as ml.m5.large, or maxInstances equal to minInstances (no autoscaling)")
    spec = DeploymentSpec(
        cloud=cloud, environment=environment, region=region, name=name, bundle_path=bundle_path,
        image=_image(r, region, cloud), endpoint_kind=kind,
        instance_type=instance_type, scaling=scaling,
        rollout=_rollout(r, scaling, serverless, aws.startup_timeout_seconds),
        monitoring=monitoring, batch=batch, retention=retention, protected=protected, aws=aws,
    )
    if r.problems:
        lines = "\n".join(f"  - {p}" for p in r.problems)
        raise SpecError(f"the stack configuration has {len(r.problems)} problem(s):\n{lines}")
    return spec


def _config_values(get: Callable[[str], str | None], present: list[str]) -> dict[str, object]:
    names = {*BY_NAME, *present}
    return {name: value for name in sorted(names) if (value := get(name)) is not None}


def read_spec() -> DeploymentSpec:
    """Read the stack's config through pulumi.Config (the CLI has applied Pulumi.yaml's defaults)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    cfg = pulumi.Config(PROJECT)
    # Keys the stack sets but the table lacks are passed on too, so a typo is reported, not ignored.
    every: dict[str, object] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    present = [k.split(":", 1)[1] for k in every if k.startswith(PROJECT + ":")]
    return parse_spec(_config_values(cfg.get, present))


__all__ = [
    "AwsSpec", "Batch", "DeploymentSpec", "Monitoring", "Retention", "Rollout", "Scaling", "Value",
    "parse_spec", "read_spec",
]

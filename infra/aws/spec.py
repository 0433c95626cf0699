"""The AWS section of the spec: the `aws*` keys, and AWS's forms of the shared values.

What SageMaker, CloudWatch, EventBridge and ECR accept lives here, not in the shared spec: region
and instance type names, burstable and Graviton types, rollout step and duration limits, the
retention periods CloudWatch Logs offers, schedule syntax, and where SageMaker may pull images from.
"""

# pyright: strict

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from infra.config_reader import ConfigReader
from infra.spec import DeploymentSpec, Rollout
from infra.spec_keys import Key, Value

ApprovalStatus = Literal["Approved", "PendingManualApproval"]
APPROVAL_STATUSES: tuple[ApprovalStatus, ...] = ("Approved", "PendingManualApproval")

KEYS: tuple[Key, ...] = (
    Key("awsServerlessMemoryMb",
        "integer", 2048, "AWS serverless endpoints: memory, 1024-6144 in steps of 1024."),
    Key("awsServerlessMaxConcurrency",
        "integer", 5, "AWS serverless endpoints: concurrent invocations, 1-200."),
    Key("awsApprovalStatus", "string", "Approved",
        "AWS model registry status of a new model version: Approved or PendingManualApproval."),
    Key("awsAlarmEmail", "string", "", "AWS: e-mail address subscribed to the alarm topic; empty: none."),
    Key("awsMonitorInstanceType", "string", "ml.m5.large", "AWS: instance type of the Model Monitor jobs."),
    Key("awsModelMonitorImage", "string", "",
        "AWS: Model Monitor analyzer image; empty: the AWS-owned image of the region."),
    Key("awsStartupTimeoutSeconds", "integer", 600,
        "AWS: seconds a new instance may take to download the model and pass /ping (60-3600)."),
)
# AWS's values for the shared keys whose default is "the cloud's".
DEFAULTS: dict[str, Value] = {"instanceType": "ml.m5.large", "batchInstanceType": "ml.m5.large"}

# The provider names endpoint configs <name>-<26 unique characters>; SageMaker allows 63 in all.
NAME_MAX = 36
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
MAX_ROLLOUT_SECONDS = 14400  # SageMaker's MaximumExecutionTimeoutInSeconds ceiling
MIN_ROLLOUT_SECONDS = 600
# Rollback alarms: one-minute periods, two bad ones out of three. A bake shorter than that window ends
# before an alarm can fire, so the rollout would never roll back. (alarms.py uses these.)
ALARM_PERIOD_SECONDS = 60
ALARM_EVALUATION_PERIODS = 3
ALARM_DATAPOINTS = 2
MIN_BAKE_WITH_ROLLBACK_SECONDS = ALARM_PERIOD_SECONDS * ALARM_EVALUATION_PERIODS

BURSTABLE_RE = re.compile(r"^ml\.t\d+[a-z]*\.")  # ml.t2.medium, ml.t3.large: SageMaker cannot autoscale them
ECR_REGISTRY_RE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
REGION_RE = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d$")
INSTANCE_RE = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")
GRAVITON_RE = re.compile(r"^ml\.[a-z]+\d+g[a-z]*\.")  # ml.c7g.large, ml.m6gd.xlarge: arm64 hosts
SCHEDULE_RE = re.compile(r"^(cron|rate|at)\(.+\)$")  # EventBridge Scheduler's expressions
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class AwsSpec:
    serverless_memory_mb: int
    serverless_max_concurrency: int
    approval_status: ApprovalStatus
    alarm_email: str | None
    monitor_instance_type: str
    model_monitor_image: str | None  # None: the AWS-owned analyzer image of the region
    startup_timeout_seconds: int


AwsDeploymentSpec = DeploymentSpec[AwsSpec]


def rollout_seconds(rollout: Rollout, startup_seconds: int) -> int:
    """How long SageMaker may take over a rollout: new instances start, each traffic step bakes, the old
    fleet waits out a final bake; plus a margin. Used as the rollout's execution timeout."""
    if rollout.strategy == "canary":
        waits = 1
    elif rollout.strategy == "linear":
        waits = math.ceil(100 / max(rollout.step_percent, 1)) - 1
    else:
        waits = 0
    return startup_seconds + waits * rollout.bake_seconds + rollout.bake_seconds + MIN_ROLLOUT_SECONDS


def _instance_type(r: ConfigReader, key: str, value: str) -> None:
    r.check(key, INSTANCE_RE.match(value) is not None,
            f"{value!r} is not a SageMaker instance type; expected e.g. ml.m5.large")
    r.check(key, GRAVITON_RE.match(value) is None,
            f"{value!r} is a Graviton (arm64) instance; the serving image is built for linux/amd64, "
            "so pick an x86 type such as ml.m5.large or ml.c5.large")


def _schedule(r: ConfigReader, key: str, value: str | None, kinds: tuple[str, ...]) -> None:
    if value is None:
        return
    m = SCHEDULE_RE.match(value)
    r.check(key, m is not None and m.group(1) in kinds,
            f"{value!r} is not a schedule; expected {' or '.join(k + '(...)' for k in kinds)} or empty "
            "(EventBridge Scheduler syntax)")


def _image(r: ConfigReader, image: str | None, region: str) -> None:
    registry = image.split("/", 1)[0] if image and "@sha256:" in image else None
    if registry is None:
        return  # no image, or one the shared spec already refused
    ecr = ECR_REGISTRY_RE.match(registry)
    r.check("image", ecr is not None and ecr.group("region") == region,
            f"SageMaker pulls only from ECR in the endpoint's region; expected "
            f"<account>.dkr.ecr.{region}.amazonaws.com/..., got registry {registry!r}")


def _rollout(r: ConfigReader, spec: DeploymentSpec[None], startup_seconds: int) -> None:
    rollout, serverless, fleet = spec.rollout, spec.serverless, spec.scaling.min_instances
    strategy, step, bake = rollout.strategy, rollout.step_percent, rollout.bake_seconds
    r.check("rolloutBakeSeconds",
            not rollout.rollback_on_alarms or serverless or bake >= MIN_BAKE_WITH_ROLLBACK_SECONDS,
            f"{bake} s is shorter than the rollback alarms' {MIN_BAKE_WITH_ROLLBACK_SECONDS} s window, so no "
            f"alarm could roll the update back; expected at least {MIN_BAKE_WITH_ROLLBACK_SECONDS}, "
            "or rollbackOnAlarms: false")
    if strategy == "canary":
        r.check("rolloutStepPercent", step <= 50, f"{step} is out of range for a canary; expected 1 to 50 (SageMaker)")
    if strategy == "linear":
        r.check("rolloutStepPercent", 10 <= step <= 50,
                f"{step} is out of range for a linear rollout; expected 10 to 50 (SageMaker)")
    if strategy == "all-at-once":
        return
    r.check("rolloutStrategy", not serverless,
            f"{strategy} needs instances to shift traffic in steps; serverless endpoints roll out all-at-once")
    r.check("rolloutStrategy", serverless or fleet >= 2,
            f"{strategy} with minInstances {fleet}: a step must be at most half the "
            "fleet, so set minInstances to 2 or more, or use all-at-once")
    total = rollout_seconds(rollout, startup_seconds)
    r.check("rolloutBakeSeconds", total <= MAX_ROLLOUT_SECONDS,
            f"a {strategy} rollout with {bake} s bakes would take about {total} s, more than SageMaker's "
            f"{MAX_ROLLOUT_SECONDS} s limit; lower rolloutBakeSeconds or raise rolloutStepPercent")


def parse_section(r: ConfigReader, spec: DeploymentSpec[None]) -> AwsSpec:
    r.check("region", REGION_RE.match(spec.region) is not None or not spec.region,
            f"{spec.region!r} is not an AWS region; expected a name like eu-west-1")
    _instance_type(r, "instanceType", spec.instance_type)
    _instance_type(r, "batchInstanceType", spec.batch.instance_type)
    r.check("instanceType", spec.serverless or BURSTABLE_RE.match(spec.instance_type) is None
            or spec.scaling.max_instances == spec.scaling.min_instances,
            f"{spec.instance_type} is a burstable instance, which SageMaker cannot autoscale; expected a type "
            "such as ml.m5.large, or maxInstances equal to minInstances (no autoscaling)")
    _schedule(r, "monitorSchedule", spec.monitoring.monitor_schedule, ("cron",))
    _schedule(r, "batchSchedule", spec.batch.schedule, ("cron", "rate", "at"))
    r.check("logRetentionDays", spec.retention.log_days in LOG_RETENTION_DAYS,
            f"{spec.retention.log_days} is not a retention CloudWatch Logs offers; expected one of "
            f"{', '.join(map(str, LOG_RETENTION_DAYS))}")
    r.check("dataCapturePercent", not (spec.serverless and spec.monitoring.capture_enabled),
            f"{spec.monitoring.data_capture_percent}: serverless endpoints cannot capture data (SageMaker "
            "rejects it); set dataCapturePercent to 0 or use endpointKind realtime")
    _image(r, spec.image, spec.region)

    memory = r.integer("awsServerlessMemoryMb", 1024, 6144)
    r.check("awsServerlessMemoryMb", memory in SERVERLESS_MEMORY_MB,
            f"{memory} is not a serverless memory size; expected one of {', '.join(map(str, SERVERLESS_MEMORY_MB))}")
    email = r.optional("awsAlarmEmail")
    r.check("awsAlarmEmail", email is None or EMAIL_RE.fullmatch(email) is not None,
            f"{email!r} is not an e-mail address")
    monitor_type = r.string("awsMonitorInstanceType")
    r.check("awsMonitorInstanceType", INSTANCE_RE.match(monitor_type) is not None,
            f"{monitor_type!r} is not a SageMaker instance type; expected e.g. ml.m5.large")
    monitor_image = r.optional("awsModelMonitorImage")
    r.check("awsModelMonitorImage", monitor_image is None or "/" in monitor_image,
            f"{monitor_image!r} is not an image URI")
    section = AwsSpec(
        serverless_memory_mb=memory,
        serverless_max_concurrency=r.integer("awsServerlessMaxConcurrency", 1, 200),
        approval_status=r.choice("awsApprovalStatus", APPROVAL_STATUSES),
        alarm_email=email,
        monitor_instance_type=monitor_type,
        model_monitor_image=monitor_image,
        startup_timeout_seconds=r.integer("awsStartupTimeoutSeconds", 60, 3600),
    )
    _rollout(r, spec, section.startup_timeout_seconds)
    return section

"""Every stack config key the program reads: its type, default and description.

Pulumi.yaml's typed `config:` block declares the same keys (tests/infra/test_pulumi_yaml.py keeps the
two equal), so the CLI checks types and applies defaults, and the pure parser in infra/spec.py
applies the same defaults when it is fed a plain dict. A key with `default=None` is required.
Keys starting with `aws` only matter on AWS; the GCP and Azure packages add their own prefixes.
"""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PROJECT = "modelstage"
KeyType = Literal["string", "integer", "boolean"]
Value = str | int | bool


@dataclass(frozen=True)
class Key:
    name: str
    type: KeyType
    default: Value | None
    description: str


KEYS: tuple[Key, ...] = (
    Key("cloud", "string", "aws", "Cloud to deploy to: aws, gcp or azure."),
    Key("environment", "string", None, "dev, staging or prod. A prod stack must set protected: true."),
    Key("region", "string", None, "Cloud region for every resource, e.g. eu-west-1."),
    Key("name",
        "string", "", "Deployment name (endpoint, repository, model group); empty: <bundle name>-<environment>."),
    Key("bundlePath", "string", "out/bundle",
        "Bundle directory written by `modelstage package`, relative to the project root."),
    Key("image", "string", "",
        "A pre-built serving image by digest (repository@sha256:...); empty: build and push it during `pulumi up`."),
    Key("endpointKind", "string", "realtime", "realtime (instances, autoscaling) or serverless."),
    Key("instanceType", "string", "ml.m5.large", "Instance type of the endpoint (realtime only)."),
    Key("minInstances", "integer", 1, "Autoscaling floor, and the instance count of a new endpoint."),
    Key("maxInstances", "integer", 2, "Autoscaling ceiling."),
    Key("targetInvocationsPerInstance", "integer", 100,
        "Autoscaling target: invocations per instance per minute."),
    Key("rolloutStrategy",
        "string", "all-at-once", "How a new model takes traffic: all-at-once, canary or linear."),
    Key("rolloutStepPercent", "integer", 10,
        "Canary size (1-50) or linear step (10-50), in percent of the fleet."),
    Key("rolloutBakeSeconds",
        "integer", 300, "Seconds to watch the alarms after each traffic step (0-3600)."),
    Key("rollbackOnAlarms",
        "boolean", True, "Roll back automatically when a rollback alarm fires during a rollout."),
    Key("alarmLatencyP99Ms",
        "integer", 500, "Alarm (and roll back) when p99 model latency exceeds this, in ms."),
    Key("alarmErrorRatePercent",
        "integer", 5, "Alarm (and roll back) when this percent of invocations fail with 5xx."),
    Key("driftThresholdPercent", "integer", 10,
        "Drift alarm: distance between live and baseline feature distributions, in percent."),
    Key("dataCapturePercent",
        "integer", 0, "Percent of requests captured to the artifact bucket; 0 turns capture off."),
    Key("monitorSchedule", "string", "",
        "Schedule of the drift check against the bundle's baseline, e.g. cron(0 * ? * * *); empty: off."),
    Key("batchSchedule", "string", "",
        "Schedule of batch scoring, e.g. cron(0 3 * * ? *) or rate(1 day); empty: no batch scoring."),
    Key("batchInputPrefix",
        "string", "batch/input/", "Key prefix in the artifact bucket that batch scoring reads."),
    Key("batchOutputPrefix",
        "string", "batch/output/", "Key prefix in the artifact bucket that batch scoring writes."),
    Key("batchInstanceType", "string", "ml.m5.large", "Instance type of batch scoring jobs."),
    Key("batchInstanceCount", "integer", 1, "Instances per batch scoring job."),
    Key("logRetentionDays", "integer", 30, "Days to keep endpoint logs."),
    Key("artifactRetentionDays",
        "integer", 30, "Days to keep superseded (noncurrent) versions of stored objects."),
    Key("captureRetentionDays", "integer", 30, "Days to keep captured requests and monitoring reports."),
    Key("protected", "boolean", False,
        "Protect and retain the model store, registry, key and model versions on destroy (prod)."),
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

BY_NAME: dict[str, Key] = {k.name: k for k in KEYS}


def qualified(name: str) -> str:
    return f"{PROJECT}:{name}"

"""The stack config keys every cloud reads: their type, default and description.

Each cloud package declares its own keys (`Cloud.keys`), named with the cloud's prefix
(`awsAlarmEmail`), so a reader of a stack file sees which cloud a key belongs to. Pulumi.yaml's
typed `config:` block is generated from these tables (`python -m infra.pulumi_yaml --write`), so the
CLI checks types and applies defaults, and the pure parser in infra/spec.py applies the same
defaults when it is fed a plain dict. A key with `default=None` is required. No key here has a
cloud's value as its default: an empty string means "the cloud's own default" (`Cloud.defaults`).
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
    Key("cloud", "string", None, "Cloud to deploy to (a package in infra/clouds.py)."),
    Key("environment", "string", None, "dev, staging or prod. A prod stack must set protected: true."),
    Key("region", "string", None, "Cloud region for every resource, e.g. eu-west-1 or europe-west4."),
    Key("name",
        "string", "", "Deployment name (endpoint, repository, model group); empty: <bundle name>-<environment>."),
    Key("bundlePath", "string", "out/bundle",
        "Bundle directory written by `modelstage package`, relative to the project root."),
    Key("image", "string", "",
        "A pre-built serving image by digest (repository@sha256:...); empty: build and push it during `pulumi up`."),
    Key("endpointKind", "string", "realtime", "realtime (instances, autoscaling) or serverless."),
    Key("instanceType", "string", "",
        "Instance or machine type of the endpoint (realtime only), in the cloud's own names; empty: the cloud's "
        "default (docs/<cloud>.md)."),
    Key("minInstances", "integer", 1, "Autoscaling floor, and the instance count of a new endpoint."),
    Key("maxInstances", "integer", 2, "Autoscaling ceiling."),
    Key("targetInvocationsPerInstance", "integer", 100,
        "Autoscaling target: invocations per instance per minute."),
    Key("rolloutStrategy",
        "string", "all-at-once", "How a new model takes traffic: all-at-once, canary or linear."),
    Key("rolloutStepPercent", "integer", 10,
        "Canary size or linear step, in percent of the traffic (the cloud may narrow the range)."),
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
        "Schedule of the drift check against the bundle's baseline, in the cloud's schedule syntax "
        "(docs/<cloud>.md); empty: off."),
    Key("batchSchedule", "string", "",
        "Schedule of batch scoring, in the cloud's schedule syntax (docs/<cloud>.md); empty: no batch scoring."),
    Key("batchInputPrefix",
        "string", "batch/input/", "Key prefix in the artifact bucket that batch scoring reads."),
    Key("batchOutputPrefix",
        "string", "batch/output/", "Key prefix in the artifact bucket that batch scoring writes."),
    Key("batchInstanceType", "string", "",
        "Instance or machine type of batch scoring jobs; empty: the cloud's default (docs/<cloud>.md)."),
    Key("batchInstanceCount", "integer", 1, "Instances per batch scoring job."),
    Key("logRetentionDays", "integer", 30, "Days to keep endpoint logs (the cloud may allow only some values)."),
    Key("artifactRetentionDays",
        "integer", 30, "Days to keep superseded (noncurrent) versions of stored objects."),
    Key("captureRetentionDays", "integer", 30, "Days to keep captured requests and monitoring reports."),
    Key("protected", "boolean", False,
        "Protect and retain the model store, registry, key and model versions on destroy (prod)."),
)

BY_NAME: dict[str, Key] = {k.name: k for k in KEYS}


def qualified(name: str) -> str:
    return f"{PROJECT}:{name}"

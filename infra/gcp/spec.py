"""The GCP section of the spec: the `gcp*` keys, and Vertex AI's forms of the shared values.

What Vertex AI, Cloud Scheduler, Cloud Logging and IAM accept lives here: region and machine type
names (Arm types refused: the image is linux/amd64), no serverless endpoints for custom containers,
canary steps as traffic percentages, no linear rollout, unix-cron schedules, the monitoring
interval in whole hours, log retention from 1 to 3650 days, and a deployment name short enough for
the service account ids derived from it (6-30 characters).
"""

# pyright: strict

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.config_reader import ConfigReader
from infra.spec import DeploymentSpec
from infra.spec_keys import Key, Value

KEYS: tuple[Key, ...] = (
    Key("gcpProject", "string", "", "GCP: the project id every resource goes into (required on GCP)."),
    Key("gcpAlarmEmail", "string", "", "GCP: e-mail address notified by the alert policies; empty: none."),
    Key("gcpCustomerKey", "boolean", False,
        "GCP: encrypt the bucket, registry, endpoint and captured requests with a Cloud KMS key of the stack."),
    Key("gcpAutoscalingCpuPercent", "integer", 60,
        "GCP: CPU utilization each replica is scaled to keep, besides the request-count target (1-100)."),
    Key("gcpDeployTimeoutSeconds", "integer", 1800,
        "GCP: seconds a model deployment may take before `pulumi up` fails and undoes it (300-7200)."),
)
DEFAULTS: dict[str, Value] = {"instanceType": "n1-standard-2", "batchInstanceType": "n1-standard-2"}

# Service account ids are 6-30 characters: <name>-serve and <name>-batch must fit.
NAME_MAX = 24
ACCOUNT_SUFFIXES = ("-serve", "-batch")
PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
REGION_RE = re.compile(r"^[a-z]+-[a-z]+\d+$")  # europe-west4, us-central1, northamerica-northeast1
MACHINE_RE = re.compile(r"^[a-z][a-z0-9]*-[a-z]+-\d+[a-z]*$")  # n1-standard-2, e2-highmem-4, a2-highgpu-1g
ARM_RE = re.compile(r"^(t2a|c4a|n4a)-")  # Arm hosts: the serving image is built for linux/amd64
CRON_FIELD = r"[0-9*/,\-A-Za-z]+"
CRON_RE = re.compile(rf"^{CRON_FIELD}(?:\s+{CRON_FIELD}){{4}}$")  # unix cron, as Cloud Scheduler takes it
INTERVAL_RE = re.compile(r"^(\d+)h$")  # Vertex model monitoring's interval, in whole hours
MAX_LOG_DAYS = 3650
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
REGISTRY_SUFFIX = "-docker.pkg.dev"


@dataclass(frozen=True)
class GcpSpec:
    project: str
    alarm_email: str | None
    customer_key: bool  # a Cloud KMS key of the stack encrypts the stores and the endpoint
    autoscaling_cpu_percent: int
    deploy_timeout_seconds: int
    monitor_interval_hours: int | None  # from monitorSchedule (`<N>h`); None: no drift check


GcpDeploymentSpec = DeploymentSpec[GcpSpec]


def monitor_hours(schedule: str | None) -> int | None:
    """`monitorSchedule` on GCP: `<N>h`, Vertex model monitoring's interval (None: none or malformed)."""
    m = INTERVAL_RE.match(schedule or "")
    return int(m.group(1)) if m else None


def _machine_type(r: ConfigReader, key: str, value: str) -> None:
    r.check(key, MACHINE_RE.match(value) is not None,
            f"{value!r} is not a Compute Engine machine type; expected e.g. n1-standard-2 or e2-standard-4")
    r.check(key, ARM_RE.match(value) is None,
            f"{value!r} is an Arm machine; the serving image is built for linux/amd64, so pick an x86 type "
            "such as n1-standard-2")


def _cron(r: ConfigReader, key: str, value: str | None) -> None:
    r.check(key, value is None or CRON_RE.match(value) is not None,
            f"{value!r} is not a unix cron expression (Cloud Scheduler); expected five fields such as "
            "'0 3 * * *', or empty")


def parse_section(r: ConfigReader, spec: DeploymentSpec[None]) -> GcpSpec:
    project = r.string("gcpProject")
    r.check("gcpProject", PROJECT_RE.match(project) is not None,
            f"{project!r} is not a GCP project id; expected 6-30 lowercase letters, digits and hyphens, "
            "starting with a letter" if project else
            "required on GCP: the project id every resource goes into (pulumi config set modelstage:gcpProject ID)")
    r.check("region", REGION_RE.match(spec.region) is not None or not spec.region,
            f"{spec.region!r} is not a Vertex AI region; expected a name like europe-west4 or us-central1")
    r.check("endpointKind", not spec.serverless,
            "Vertex AI has no serverless endpoints for custom containers; expected realtime")
    _machine_type(r, "instanceType", spec.instance_type)
    _machine_type(r, "batchInstanceType", spec.batch.instance_type)
    rollout = spec.rollout
    r.check("rolloutStrategy", rollout.strategy != "linear",
            "Vertex AI splits traffic between deployed models, so modelstage offers all-at-once and canary "
            "there; expected all-at-once or canary")
    if rollout.strategy == "canary":
        r.check("rolloutStepPercent", rollout.step_percent <= 99,
                f"{rollout.step_percent} leaves nothing on the old model during the bake; expected 1 to 99")
    r.check("targetInvocationsPerInstance",
            spec.scaling.target_invocations_per_instance == r.keys["targetInvocationsPerInstance"].default,
            f"{spec.scaling.target_invocations_per_instance}: Vertex AI autoscales on CPU here; leave "
            "targetInvocationsPerInstance unset and set gcpAutoscalingCpuPercent")
    _cron(r, "batchSchedule", spec.batch.schedule)
    schedule = spec.monitoring.monitor_schedule
    hours = monitor_hours(schedule)
    r.check("monitorSchedule", schedule is None or (hours is not None and 1 <= hours <= 168),
            f"{schedule!r} is not a Vertex model monitoring interval; expected whole hours from 1h to 168h, "
            "or empty")
    r.check("logRetentionDays", spec.retention.log_days <= MAX_LOG_DAYS,
            f"{spec.retention.log_days} is more than Cloud Logging keeps; expected 1 to {MAX_LOG_DAYS}")
    if spec.image is not None and "@sha256:" in spec.image:
        registry = spec.image.split("/", 1)[0]
        r.check("image", registry == f"{spec.region}{REGISTRY_SUFFIX}",
                f"the stack's service account may pull only from Artifact Registry in the endpoint's region; "
                f"expected {spec.region}{REGISTRY_SUFFIX}/..., got registry {registry!r}")
    email = r.optional("gcpAlarmEmail")
    r.check("gcpAlarmEmail", email is None or EMAIL_RE.fullmatch(email) is not None,
            f"{email!r} is not an e-mail address")
    customer_key = r.boolean("gcpCustomerKey")
    r.check("gcpCustomerKey", spec.environment != "prod" or customer_key,
            "a prod stack on GCP must set gcpCustomerKey: true, so its model, captures and endpoint are "
            "encrypted with a key the stack controls")
    return GcpSpec(
        project=project,
        alarm_email=email,
        customer_key=customer_key,
        autoscaling_cpu_percent=r.integer("gcpAutoscalingCpuPercent", 1, 100),
        deploy_timeout_seconds=r.integer("gcpDeployTimeoutSeconds", 300, 7200),
        monitor_interval_hours=hours,
    )

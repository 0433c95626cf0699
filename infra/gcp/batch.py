"""Scheduled batch scoring: a Cloud Scheduler job that calls Vertex AI's `batchPredictionJobs.create`
with the scheduler account's OAuth token. Each run scores every file under the input prefix with the
deployed model version, as the serving account, and writes JSON Lines under the output prefix."""

# pyright: strict

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from infra.components import child
from infra.gcp import names
from infra.gcp.common import GcpCommon
from infra.spec import Batch

SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@dataclass(frozen=True)
class BatchScoringArgs:
    common: GcpCommon
    batch: Batch
    model_version: pulumi.Output[str]  # projects/P/locations/R/models/ID@VERSION
    bucket: pulumi.Output[str]
    serving_account: pulumi.Output[str]  # email: the job runs as it
    scheduler_account: pulumi.Output[str]  # email: the scheduler calls the API as it


def job_request(name: str, model: str, bucket: str, batch: Batch, account: str) -> dict[str, Any]:
    """The BatchPredictionJob the scheduler posts (Vertex REST, camelCase fields)."""
    return {
        "displayName": f"{name}-batch",
        "model": model,
        "inputConfig": {"instancesFormat": "csv",
                        "gcsSource": {"uris": [f"gs://{bucket}/{batch.input_prefix}*"]}},
        "outputConfig": {"predictionsFormat": "jsonl",
                         "gcsDestination": {"outputUriPrefix": f"gs://{bucket}/{batch.output_prefix}"}},
        "dedicatedResources": {"machineSpec": {"machineType": batch.instance_type},
                               "startingReplicaCount": batch.instance_count,
                               "maxReplicaCount": batch.instance_count},
        "serviceAccount": account,
        "labels": {"modelstage-deployment": name},
    }


class BatchScoring(pulumi.ComponentResource):
    job: gcp.cloudscheduler.Job

    def __init__(self, name: str, args: BatchScoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:gcp:BatchScoring", name, None, opts)
        c, batch = args.common, args.batch
        assert batch.schedule is not None  # built only when batch scoring is on

        def body(values: list[str]) -> str:
            model, bucket, account = values
            doc = job_request(c.name, model, bucket, batch, account)
            return base64.b64encode(json.dumps(doc, sort_keys=True).encode()).decode()

        self.job = gcp.cloudscheduler.Job(
            f"{name}-batch", project=c.project, region=c.region, name=f"{c.name}-batch",
            description=f"modelstage {c.name}: batch scoring of {batch.input_prefix}",
            schedule=batch.schedule, time_zone="Etc/UTC", attempt_deadline="180s",
            http_target=gcp.cloudscheduler.JobHttpTargetArgs(
                uri=names.batch_jobs_url(c.project, c.region), http_method="POST",
                headers={"Content-Type": "application/json"},
                body=pulumi.Output.all(args.model_version, args.bucket, args.serving_account).apply(body),
                oauth_token=gcp.cloudscheduler.JobHttpTargetOauthTokenArgs(
                    service_account_email=args.scheduler_account, scope=SCOPE)),
            opts=child(self))
        self.register_outputs({"job": self.job.name})

"""Scheduled batch scoring: the pipeline's Transform step over the Model, and its schedule."""

from __future__ import annotations

from pathlib import Path

from container.local import ServerProcess, free_port, request
from infra.aws.batch import BATCH_MAX_ROWS
from infra.offline.runner import Recording
from model.bundle import Bundle
from tests.infra.aws.recorded import ROLE, doc, name, named
from tests.infra.conftest import Run

PIPELINE = "aws:sagemaker/pipeline:Pipeline"
SCHEDULE = "aws:scheduler/schedule:Schedule"
ACCOUNT = "123456789012"


def test_the_pipeline_transforms_the_input_prefix_with_the_deployed_model(recording: Recording) -> None:
    ep = name(recording)
    bucket, key = f"{ep}-bucket-0000000", f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{ep}-key"
    pipeline = recording.one(PIPELINE)
    assert pipeline.inputs["pipelineName"] == f"{ep}-batch"
    assert pipeline.inputs["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{ep}-batch-pipeline-0000000"
    definition = doc(pipeline, "pipelineDefinition")
    assert definition["Version"] == "2020-12-01"
    assert {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]} == {
        "InputUri": f"s3://{bucket}/batch/input/", "OutputUri": f"s3://{bucket}/batch/output/"}
    (step,) = definition["Steps"]
    assert step["Type"] == "Transform"
    args = step["Arguments"]
    assert args["ModelName"] == f"{ep}-model-0000000"  # the Model the endpoint serves
    assert args["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == {"Get": "Parameters.InputUri"}
    assert (args["TransformInput"]["ContentType"], args["TransformInput"]["SplitType"]) == ("text/csv", "Line")
    output = args["TransformOutput"]
    assert output["S3OutputPath"] == {"Std:Join": {"On": "", "Values": [
        {"Get": "Parameters.OutputUri"}, {"Get": "Execution.PipelineExecutionId"}]}}  # one folder per run
    assert output["KmsKeyId"] == key and args["TransformResources"]["VolumeKmsKeyId"] == key
    count = {"aws-dev": 1, "aws-prod": 2}[recording.stack]
    instance = {"aws-dev": "ml.m5.large", "aws-prod": "ml.c5.xlarge"}[recording.stack]
    resources = args["TransformResources"]
    assert (resources["InstanceType"], resources["InstanceCount"]) == (instance, count)


def test_the_schedule_starts_the_pipeline_as_the_scheduler_role(recording: Recording) -> None:
    ep = name(recording)
    schedule = recording.one(SCHEDULE).inputs
    assert schedule["scheduleExpression"] == {"aws-dev": "cron(0 6 ? * MON *)",
                                              "aws-prod": "cron(0 3 * * ? *)"}[recording.stack]
    assert schedule["flexibleTimeWindow"] == {"mode": "OFF"}
    target = schedule["target"]
    assert target["arn"] == f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:pipeline/{ep}-batch"
    assert target["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{ep}-batch-scheduler-0000000"
    assert named(recording, ROLE, "batch-scheduler").urn in {
        u for urns in recording.one(SCHEDULE).property_dependencies.values() for u in urns}


def test_no_schedule_means_no_pipeline_and_no_batch_roles(run_stack: Run) -> None:
    rec = run_stack("aws-dev", batchSchedule="")
    assert rec.of_type(PIPELINE) == [] and rec.of_type(SCHEDULE) == []
    assert sorted(r.name for r in rec.of_type(ROLE)) == ["house-prices-dev-execution"]
    sids = [s["Sid"] for s in doc(rec.one("aws:iam/rolePolicy:RolePolicy"), "policy")["Statement"]]
    assert sids and not [sid for sid in sids if "Batch" in sid or "Transform" in sid]


def test_the_transform_job_raises_the_row_limit_to_what_a_mini_batch_holds(recording: Recording, bundle: Bundle,
                                                                           tmp_path: Path) -> None:
    """A MultiRecord mini-batch is up to MaxPayloadInMB of lines; with the runtime's online default
    (10,000 rows) a full one would be refused. The recorded Environment, given to the real server,
    lets a full 6 MB CSV mini-batch through."""
    args = doc(recording.one(PIPELINE), "pipelineDefinition")["Steps"][0]["Arguments"]
    environment = args["Environment"]
    assert environment == {"MODELSTAGE_MAX_ROWS": str(BATCH_MAX_ROWS)}
    line = b"1200,3,2\n"  # short lines (the other features take their defaults): about 700,000 of them
    body = line * (args["MaxPayloadInMB"] * 1024 * 1024 // len(line))
    with ServerProcess(bundle.path, free_port(), env=environment, log_file=tmp_path / "log") as proc:
        proc.wait_healthy(60)
        r = request(f"{proc.url}/invocations", body, "text/csv", "text/csv", timeout=120)
    assert r.status == 200, r.body[:300]
    assert len(r.body.splitlines()) == len(body) // len(line) > 10_000


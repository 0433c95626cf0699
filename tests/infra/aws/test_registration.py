"""The model registry: the group per deployment and a version per bundle, with metrics and status."""

from __future__ import annotations

import json

from infra.aws.registration import metrics_report
from infra.offline.runner import Recording
from model.bundle import Bundle
from tests.infra.aws.recorded import GROUP, OBJECT, PACKAGE, name, named
from tests.infra.conftest import Run


def test_a_version_of_the_bundle_is_registered_in_the_deployments_group(recording: Recording, bundle: Bundle) -> None:
    ep = name(recording)
    group = named(recording, GROUP, "model-group").inputs
    package = named(recording, PACKAGE, "model-version").inputs
    assert group["modelPackageGroupName"] == ep and package["modelPackageGroupName"] == ep
    assert "modelPackageName" not in package  # a versioned package: the group numbers it
    assert package["modelApprovalStatus"] == "Approved"
    (container,) = package["inferenceSpecification"]["containers"]
    assert container == {"image": recording.outputs["image_digest"], "modelDataUrl": recording.outputs["artifact_uri"]}
    assert package["customerMetadataProperties"] == {
        "bundle_version": bundle.version, "archive_sha256": bundle.archive_sha256(),
        **{f"metric_{k}": repr(v) for k, v in bundle.metrics.items()}}
    assert bundle.version in package["modelPackageDescription"]


def test_the_registry_shows_the_bundles_metrics_and_baseline(recording: Recording, bundle: Bundle) -> None:
    metrics = named(recording, OBJECT, "model-metrics").inputs
    assert json.loads(metrics["content"]) == {
        "version": 0, "regression_metrics": {k: {"value": v} for k, v in bundle.metrics.items()}}
    assert metrics["content"] == metrics_report(bundle.metrics)
    quality = named(recording, PACKAGE, "model-version").inputs["modelMetrics"]
    bucket = f"s3://{name(recording)}-bucket-0000000/"
    assert quality["modelQuality"]["statistics"] == {"contentType": "application/json",
                                                     "s3Uri": bucket + metrics["key"]}
    assert quality["modelDataQuality"]["constraints"]["s3Uri"].endswith(
        f"/baseline/{bundle.archive_sha256()}/constraints.json")


def test_the_approval_status_is_configurable(run_stack: Run) -> None:
    rec = run_stack("aws-dev", awsApprovalStatus="PendingManualApproval")
    assert rec.one(PACKAGE).inputs["modelApprovalStatus"] == "PendingManualApproval"

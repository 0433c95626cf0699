"""Alarms, the alarm topic, the endpoint's log group, data capture, and the drift monitor."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from infra.aws.deployment import analyzer_image
from infra.aws.monitor_baseline import baseline_files, constraints, statistics
from infra.errors import SpecError
from infra.offline.runner import Recording
from infra.spec import parse_spec
from model.bundle import Bundle
from tests.infra.aws.recorded import ALARM, CONFIG, OBJECT, ROLE, name, named

ACCOUNT = "123456789012"


def test_the_log_group_exists_with_retention_and_encryption(recording: Recording) -> None:
    group = named(recording, "aws:cloudwatch/logGroup:LogGroup", "endpoint-logs").inputs
    assert group["name"] == f"/aws/sagemaker/Endpoints/{name(recording)}"
    assert group["retentionInDays"] == {"aws-dev": 7, "aws-prod": 90}[recording.stack]
    assert group["kmsKeyId"].endswith(f":key/{name(recording)}-key")


def test_alarm_thresholds_come_from_the_spec(recording: Recording) -> None:
    latency = named(recording, ALARM, "latency").inputs
    error_rate = named(recording, ALARM, "error-rate").inputs
    ms, percent = {"aws-dev": (1000, 5), "aws-prod": (200, 1)}[recording.stack]
    assert (latency["metricName"], latency["namespace"], latency["extendedStatistic"]) == (
        "ModelLatency", "AWS/SageMaker", "p99")
    assert latency["threshold"] == ms * 1000  # ModelLatency is in microseconds
    assert error_rate["threshold"] == percent
    queries = {q["id"]: q for q in error_rate["metricQueries"]}
    assert queries["errors"]["metric"]["metricName"] == "Invocation5XXErrors"
    assert queries["invocations"]["metric"]["metricName"] == "Invocations"
    assert queries["error_rate"]["expression"] == "IF(invocations > 0, 100 * errors / invocations, 0)"
    assert [q["id"] for q in error_rate["metricQueries"] if q.get("returnData")] == ["error_rate"]
    topic = f"arn:aws:sns:eu-west-1:{ACCOUNT}:{name(recording)}-topic-0000000"
    for alarm in (latency, error_rate):
        assert alarm["alarmActions"] == [topic] and alarm["okActions"] == [topic]
        assert alarm["treatMissingData"] == "notBreaching"


def test_the_alarm_topic_is_encrypted_and_prod_pages_a_person(recordings: dict[str, Recording]) -> None:
    for rec in recordings.values():
        assert named(rec, "aws:sns/topic:Topic", "topic").inputs["kmsMasterKeyId"].endswith(f"key/{name(rec)}-key")
    assert recordings["aws-dev"].of_type("aws:sns/topicSubscription:TopicSubscription") == []
    subscription = recordings["aws-prod"].one("aws:sns/topicSubscription:TopicSubscription").inputs
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", "ml-oncall@example.com")


def test_requests_are_captured_encrypted_into_the_capture_prefix(recording: Recording) -> None:
    capture = named(recording, CONFIG, "config").inputs["dataCaptureConfig"]
    assert capture["enableCapture"] is True
    assert capture["initialSamplingPercentage"] == {"aws-dev": 100, "aws-prod": 20}[recording.stack]
    assert capture["destinationS3Uri"] == f"s3://{name(recording)}-bucket-0000000/datacapture/{name(recording)}"
    assert capture["kmsKeyId"].endswith(f":key/{name(recording)}-key")
    assert [o["captureMode"] for o in capture["captureOptions"]] == ["Input", "Output"]


def test_prod_checks_drift_against_the_uploaded_baseline(recordings: dict[str, Recording], bundle: Bundle) -> None:
    prod, ep = recordings["aws-prod"], "house-prices-prod"
    assert recordings["aws-dev"].of_type("aws:sagemaker/monitoringSchedule:MonitoringSchedule") == []
    job = prod.one("aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition").inputs
    uploaded = {o.inputs["key"].rsplit("/", 1)[1]: f"s3://{ep}-bucket-0000000/{o.inputs['key']}"
                for o in prod.of_type(OBJECT) if "/baseline/" in o.inputs["key"]}
    assert set(uploaded) == {"statistics.json", "constraints.json", "preprocessor.py"}
    assert job["dataQualityBaselineConfig"] == {"constraintsResource": {"s3Uri": uploaded["constraints.json"]},
                                                "statisticsResource": {"s3Uri": uploaded["statistics.json"]}}
    app = job["dataQualityAppSpecification"]
    assert app["imageUri"] == "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    assert app["recordPreprocessorSourceUri"] == uploaded["preprocessor.py"]
    assert job["dataQualityJobInput"]["endpointInput"]["endpointName"] == ep
    assert job["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{ep}-monitor-0000000"
    assert named(prod, ROLE, "monitor").urn in {u for urns in prod.one(
        "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition").property_dependencies.values() for u in urns}
    assert job["networkConfig"] == {"enableInterContainerTrafficEncryption": True, "enableNetworkIsolation": True}
    schedule = prod.one("aws:sagemaker/monitoringSchedule:MonitoringSchedule").inputs
    config = schedule["monitoringScheduleConfig"]
    assert config["monitoringType"] == "DataQuality"
    assert config["scheduleConfig"] == {"scheduleExpression": "cron(0 * ? * * *)"}
    drift = [a.inputs for a in prod.of_type(ALARM) if a.inputs["name"].startswith(f"{ep}-drift-")]
    assert sorted(a["metricName"] for a in drift) == sorted(f"feature_baseline_drift_{f}" for f in bundle.schema.names)
    assert all(a["threshold"] == 0.1 and a["dimensions"]["MonitoringSchedule"] == schedule["name"] for a in drift)


def test_baseline_statistics_follow_model_monitors_schema(bundle: Bundle) -> None:
    stats = statistics(bundle)
    assert stats["version"] == 0 and stats["dataset"]["item_count"] == bundle.manifest["baseline"]["rows"]
    by_name = {f["name"]: f for f in stats["features"]}
    assert list(by_name) == list(bundle.schema.names)
    for baseline in bundle.baselines:
        numeric = by_name[baseline.name]["numerical_statistics"]
        assert numeric["common"] == {"num_present": sum(baseline.counts), "num_missing": baseline.missing}
        assert (numeric["min"], numeric["max"], numeric["mean"]) == (baseline.minimum, baseline.maximum, baseline.mean)
        kll = numeric["distribution"]["kll"]
        assert [b["count"] for b in kll["buckets"]] == list(baseline.counts)
        assert kll["buckets"][0]["lower_bound"] == baseline.edges[0]
        assert kll["buckets"][-1]["upper_bound"] == baseline.edges[-1]
        (values,) = kll["sketch"]["data"]
        assert 990 <= len(values) <= 1010 and all(baseline.edges[0] <= v <= baseline.edges[-1] for v in values)
    for feature in bundle.schema.features:
        assert by_name[feature.name]["inferred_type"] == ("Integral" if feature.dtype == "integer" else "Fractional")


def test_baseline_constraints_carry_the_drift_threshold(bundle: Bundle) -> None:
    c = constraints(bundle, 0.25)
    assert c["monitoring_config"]["distribution_constraints"] == {
        "perform_comparison": "Enabled", "comparison_threshold": 0.25, "comparison_method": "Robust"}
    assert c["monitoring_config"]["emit_metrics"] == "Enabled"
    assert [f["name"] for f in c["features"]] == list(bundle.schema.names)
    assert all(f["num_constraints"]["is_non_negative"] for f in c["features"])  # every example feature is >= 0


def _record(data: str, encoding: str = "JSON") -> Any:
    return SimpleNamespace(endpoint_input=SimpleNamespace(data=data, encoding=encoding))


@pytest.mark.parametrize(("data", "encoding", "rows"), [
    ('{"input": [1800.0, 3.0, 2.0]}', "JSON", 1),
    ('{"input": [[1800.0, 3], [900, 2]]}', "JSON", 2),
    ('{"instances": [{"bedrooms": 4}]}', "JSON", 1),
    ("1800,3,2\n900,2,1\n", "CSV", 2),
])
def test_the_preprocessor_turns_captured_requests_into_named_rows(bundle: Bundle, data: str, encoding: str,
                                                                   rows: int) -> None:
    namespace: dict[str, Any] = {}
    exec(baseline_files(bundle, 10)["preprocessor.py"], namespace)  # the generated script, as Model Monitor runs it
    records = namespace["preprocess_handler"](_record(data, encoding))
    defaults = {f.name: f.default for f in bundle.schema.features}
    assert len(records) == rows
    for record in records:
        assert list(record) == list(bundle.schema.names)
    first = records[0]
    if "bedrooms" in data:
        assert first["bedrooms"] == 4 and first["living_area_sqft"] == defaults["living_area_sqft"]
    else:
        assert first["living_area_sqft"] == 1800.0 and first["lot_size_sqft"] == defaults["lot_size_sqft"]


def test_the_baseline_files_are_json_where_model_monitor_expects_json(bundle: Bundle) -> None:
    files = baseline_files(bundle, 10)
    assert json.loads(files["statistics.json"]) == statistics(bundle)
    assert json.loads(files["constraints.json"]) == constraints(bundle, 0.1)


def test_a_region_without_a_known_analyzer_image_needs_one_configured() -> None:
    config = {"cloud": "aws", "environment": "dev", "region": "ap-southeast-3", "dataCapturePercent": "10",
              "monitorSchedule": "cron(0 * ? * * *)"}
    with pytest.raises(SpecError) as err:
        analyzer_image(parse_spec(config))
    assert "no Model Monitor image is known for ap-southeast-3; set modelstage:awsModelMonitorImage" in str(err.value)
    own = "111122223333.dkr.ecr.ap-southeast-3.amazonaws.com/sagemaker-model-monitor-analyzer"
    assert analyzer_image(parse_spec({**config, "awsModelMonitorImage": own})) == own
    assert analyzer_image(parse_spec({"cloud": "aws", "environment": "dev", "region": "ap-southeast-3"})) is None

"""infra/aws/deployment.py, the whole program under mocks per stack file: shape, outputs, providers,
protection, and errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pulumi
import pytest

from infra.offline.runner import Recording, run_program
from model.bundle import Bundle
from tests.infra.aws.recorded import BUCKET, GROUP, KEY, OBJECT, PACKAGE, REPOSITORY, component_types, name, named
from tests.infra.conftest import AWS_STACKS, Run, stack_config

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # pulumi.runtime.rpc's marker of a secret value
COMPONENTS = {f"modelstage:aws:{c}" for c in (
    "ModelDeployment", "ArtifactStore", "ServingImage", "Identity", "ModelRegistration", "EndpointAlarms",
    "ServingEndpoint", "BatchScoring")}


def test_outputs_have_the_names_every_cloud_exports(recording: Recording, bundle: Bundle) -> None:
    out = recording.outputs
    ep, region = name(recording), "eu-west-1"
    assert set(out) == {"endpoint_name", "invoke_url", "model_version_id", "model_package_arn", "image_digest",
                        "artifact_uri", "region", "cloud"}
    assert (out["endpoint_name"], out["region"], out["cloud"]) == (ep, region, "aws")
    assert out["invoke_url"] == f"https://runtime.sagemaker.{region}.amazonaws.com/endpoints/{ep}/invocations"
    assert out["model_version_id"] == out["model_package_arn"]
    assert re.fullmatch(rf"arn:aws:sagemaker:{region}:\d{{12}}:model-package/{ep}/1", out["model_package_arn"])
    assert re.fullmatch(rf"\d{{12}}\.dkr\.ecr\.{region}\.amazonaws\.com/modelstage/{ep}@sha256:[0-9a-f]{{64}}",
                        out["image_digest"])
    assert re.fullmatch(rf"s3://{ep}-bucket-\w+/models/house-prices/{bundle.archive_sha256()}/model.tar.gz",
                        out["artifact_uri"])


def test_one_component_per_concern_under_the_deployment(recording: Recording) -> None:
    expected = COMPONENTS | ({"modelstage:aws:DriftMonitor"} if recording.stack == "aws-prod" else set())
    assert component_types(recording) == expected
    root = recording.one("modelstage:aws:ModelDeployment")
    for r in recording.resources:
        if r.typ in COMPONENTS - {"modelstage:aws:ModelDeployment"}:
            assert r.parent == root.urn, r.typ


def test_every_cloud_resource_uses_the_explicit_providers_of_the_spec_region(recording: Recording) -> None:
    providers = {r.typ: r for r in recording.resources if r.typ.startswith("pulumi:providers:")}
    assert set(providers) == {"pulumi:providers:aws", "pulumi:providers:aws-native"}
    assert all(p.inputs["region"] == "eu-west-1" for p in providers.values())
    for r in recording.resources:
        if r.custom and r.typ.startswith(("aws:", "aws-native:")):
            package = r.typ.split(":")[0]
            assert r.provider.startswith(providers[f"pulumi:providers:{package}"].urn + "::"), r.name


def test_dev_destroys_everything(recordings: dict[str, Recording]) -> None:
    dev = recordings["aws-dev"]
    assert [r.name for r in dev.resources if r.protect or r.retain_on_delete] == []
    assert named(dev, BUCKET, "bucket").inputs["forceDestroy"] is True
    assert named(dev, REPOSITORY, "repository").inputs["forceDelete"] is True
    assert named(dev, KEY, "key").inputs["deletionWindowInDays"] == 7


def test_prod_protects_the_stores_and_retains_every_model_version(recordings: dict[str, Recording]) -> None:
    prod = recordings["aws-prod"]
    protected = {(r.typ, r.name) for r in prod.resources if r.protect}
    retained_only = {(r.typ, r.name) for r in prod.resources if r.retain_on_delete and not r.protect}
    ep = "house-prices-prod"
    assert protected == {(BUCKET, f"{ep}-bucket"), (KEY, f"{ep}-key"), (REPOSITORY, f"{ep}-repository"),
                         (GROUP, f"{ep}-model-group")}
    assert all(r.retain_on_delete for r in prod.resources if r.protect)
    assert retained_only == {(PACKAGE, f"{ep}-model-version"), (OBJECT, f"{ep}-model-archive"),
                             (OBJECT, f"{ep}-model-metrics")}
    assert named(prod, BUCKET, "bucket").inputs["forceDestroy"] is False
    assert named(prod, REPOSITORY, "repository").inputs["forceDelete"] is False
    assert named(prod, KEY, "key").inputs["deletionWindowInDays"] == 30


def test_the_image_is_built_by_the_dynamic_resource_from_content_inputs_only(recording: Recording) -> None:
    build = named(recording, "pulumi-python:dynamic:Resource", "build")
    repository = named(recording, REPOSITORY, "repository")
    assert build.parent.endswith(f"modelstage:aws:ServingImage::{name(recording)}")
    assert build.inputs["repository"].endswith(f"/modelstage/{name(recording)}")
    assert re.fullmatch(r"[0-9a-f]{64}", build.inputs["source_hash"])
    assert build.inputs["runtime_extras"] == ""
    # Credentials come from the provider's ECR token, and the repository exists before the push.
    assert build.inputs["username"] == "AWS"
    password = build.inputs["password"]  # travels as a secret, so the state stores it encrypted
    assert password["value"] == "mock-password" and SECRET_SIG in password.values()
    assert "aws:ecr/getAuthorizationToken:getAuthorizationToken" in recording.calls
    assert repository.urn in {u for urns in build.property_dependencies.values() for u in urns}


def test_a_prebuilt_image_skips_the_registry_and_the_build(run_stack: Run) -> None:
    image = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/runtime@sha256:{'b' * 64}"
    rec = run_stack("aws-dev", image=image)
    assert rec.of_type(REPOSITORY) == [] and rec.of_type("pulumi-python:dynamic:Resource") == []
    assert rec.outputs["image_digest"] == image
    assert rec.one("aws:sagemaker/model:Model").inputs["primaryContainer"]["image"] == image


def test_importing_the_program_modules_creates_no_resource(tmp_path: Path) -> None:
    program = tmp_path / "imports_only.py"
    program.write_text("import infra.aws.cloud, infra.aws.deployment, infra.program, infra.smoke, infra.built_image\n")
    assert run_program({}, stack="aws-dev", program=program).resources == []


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_preview_declares_what_up_declares(bundle: Bundle, stack: str) -> None:
    """`pulumi preview` and `pulumi up` run the same program: the same resources, by type and name.
    (That preview never builds the image is tested on the provider itself: tests/infra/test_built_image.py.)"""
    config = stack_config(stack, bundle)
    up, preview = run_program(config, stack=stack), run_program(config, stack=stack, preview=True)
    assert sorted((r.typ, r.name) for r in preview.resources) == sorted((r.typ, r.name) for r in up.resources)


BAD_RUNS = [
    ({"environment": "prod", "protected": "false"}, "modelstage:protected: a prod stack must set protected: true"),
    ({"endpointKind": "serverless"}, "modelstage:dataCapturePercent: 100: serverless endpoints cannot capture data"),
    ({"cloud": "openstack"}, "modelstage:cloud: 'openstack' is not a cloud modelstage can deploy to; expected one of"),
    ({"rolloutStrategy": "canary"}, "canary with minInstances 1"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_RUNS)
def test_a_bad_stack_config_stops_the_program_with_a_clean_error(run_stack: Run, overrides: dict[str, str],
                                                                 message: str) -> None:
    with pytest.raises(pulumi.RunError) as err:
        run_stack("aws-dev", **overrides)
    assert message in str(err.value)


def test_a_missing_bundle_says_to_run_package(bundle: Bundle, tmp_path: Path) -> None:
    config = stack_config("aws-dev", bundle, bundlePath=str(tmp_path / "nowhere"))
    with pytest.raises(pulumi.RunError) as err:
        run_program(config, stack="aws-dev")
    assert "modelstage:bundlePath" in str(err.value) and "modelstage package --out" in str(err.value)


def test_a_tampered_bundle_is_refused(bundle: Bundle, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle.path, copy)
    (copy / "sample_request.json").write_text('{"input": [1]}\n')
    with pytest.raises(pulumi.RunError) as err:
        run_program(stack_config("aws-dev", bundle, bundlePath=str(copy)), stack="aws-dev")
    assert "checksum mismatch" in str(err.value)

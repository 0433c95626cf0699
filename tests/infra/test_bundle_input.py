"""Finding the bundle a stack deploys, and the deployment name derived from it."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from infra.bundle_input import deployment_name, load_deploy_bundle, project_root
from infra.errors import SpecError
from infra.spec import parse_spec
from model.bundle import Bundle
from tests.infra.conftest import ROOT

DEV = {"cloud": "aws", "environment": "dev", "region": "eu-west-1"}
NAME_MAX = 36  # AWS's (infra/aws/spec.py)


def test_the_project_root_is_found_from_any_directory_below_it() -> None:
    assert project_root(ROOT / "infra" / "aws") == ROOT


def test_a_relative_bundle_path_is_read_from_the_project_root(bundle: Bundle, tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: modelstage\n")
    shutil.copytree(bundle.path, tmp_path / "out" / "bundle")
    loaded = load_deploy_bundle(parse_spec(DEV), root=project_root(tmp_path / "out"))
    assert loaded.path == tmp_path / "out" / "bundle" and loaded.version == bundle.version


def test_the_deployment_name_is_the_bundle_and_environment_unless_configured(bundle: Bundle) -> None:
    assert deployment_name(parse_spec(DEV), bundle, NAME_MAX) == "house-prices-dev"
    assert deployment_name(parse_spec({**DEV, "name": "pricing"}), bundle, NAME_MAX) == "pricing"


def test_a_bundle_name_that_cannot_name_resources_asks_for_a_name(bundle: Bundle) -> None:
    long = dataclasses.replace(bundle, manifest={**bundle.manifest, "name": "house-prices-for-the-whole-country"})
    with pytest.raises(SpecError) as err:
        deployment_name(parse_spec(DEV), long, NAME_MAX)
    assert "'house-prices-for-the-whole-country-dev'" in str(err.value)
    assert "set modelstage:name to lowercase letters, digits and single hyphens, at most 36" in str(err.value)

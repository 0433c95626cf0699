"""Pulumi.yaml and the stack files: what the CLI reads before it runs the program."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from infra.offline.stack_config import load_stack_config, schema_errors, stack_names
from infra.pulumi_yaml import every_key, render
from infra.spec import parse_spec
from infra.spec_keys import Key
from tests.infra.conftest import AWS_STACKS, GCP_STACKS, ROOT

PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())


def test_project_runs_infra_with_the_project_virtualenv() -> None:
    assert PROJECT["name"] == "modelstage"
    assert PROJECT["main"] == "infra/" and (ROOT / "infra" / "__main__.py").is_file()
    assert PROJECT["stackConfigDir"] == "stacks"
    assert PROJECT["runtime"] == {"name": "python",
                                  "options": {"toolchain": "pip", "virtualenv": ".venv", "typechecker": "pyright"}}


def test_the_typed_config_is_generated_from_the_key_tables() -> None:
    text = (ROOT / "Pulumi.yaml").read_text()
    assert render(text) == text, "Pulumi.yaml is stale: python -m infra.pulumi_yaml --write"


def test_the_generated_config_reads_back_as_the_key_tables() -> None:
    declared = PROJECT["config"]
    keys = every_key()
    assert list(declared) == [k.name for k in keys]
    for key in keys:
        decl = declared[key.name]
        assert decl["type"] == key.type and decl["description"].startswith(key.description.rstrip(".")), key.name
        assert decl.get("default") == key.default, key.name
        assert ("default" in decl) == (key.default is not None), key.name
    assert declared["cloud"]["description"].endswith(": aws, gcp.")  # the registered clouds


def test_infra_modules_do_not_shadow_top_level_packages() -> None:
    # The CLI puts infra/ first on sys.path: a module there named like a package would shadow it.
    shadowing = {"types", "json", "yaml", "docker", "pulumi", "boto3", "model", "container", "typing", "platform"}
    top = {p.stem for p in (ROOT / "infra").glob("*.py")} | {p.name for p in (ROOT / "infra").iterdir() if p.is_dir()}
    assert not top & shadowing


@pytest.mark.parametrize("stack", (*AWS_STACKS, *GCP_STACKS))
def test_stack_files_pass_the_typed_config_check_and_the_spec(stack: str) -> None:
    assert stack in stack_names(ROOT)
    assert schema_errors(ROOT, stack) == []
    config = load_stack_config(ROOT, stack)
    assert all(isinstance(v, str) for v in config.values())  # as the CLI passes them
    s = parse_spec(config)
    assert s.cloud == stack.split("-")[0] and s.bundle_path == "out/bundle"
    assert s.protected is (s.environment == "prod")


def test_dev_and_prod_differ_where_a_team_would_want_them_to() -> None:
    dev, prod = (parse_spec(load_stack_config(ROOT, s)) for s in AWS_STACKS)
    assert dev.scaling.min_instances == 1 and prod.scaling.min_instances >= 2
    assert dev.rollout.strategy == "all-at-once" and prod.rollout.strategy == "canary"
    assert prod.rollout.bake_seconds > dev.rollout.bake_seconds
    assert prod.monitoring.latency_p99_ms < dev.monitoring.latency_p99_ms
    assert dev.monitoring.monitor_schedule is None and prod.monitoring.monitor_schedule is not None
    assert dev.batch.schedule != prod.batch.schedule and prod.batch.enabled
    assert prod.retention.log_days > dev.retention.log_days
    assert not dev.protected and prod.protected


def test_a_changed_key_table_makes_the_committed_file_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    import infra.pulumi_yaml

    text = (ROOT / "Pulumi.yaml").read_text()
    changed = [*infra.pulumi_yaml.KEYS[:-1], Key("protected", "boolean", True, "Changed.")]
    monkeypatch.setattr(infra.pulumi_yaml, "KEYS", tuple(changed))
    assert render(text) != text
    assert yaml.safe_load(render(text))["config"]["protected"] == {
        "type": "boolean", "description": "Changed.", "default": True}


def test_stack_values_override_project_defaults() -> None:
    config = load_stack_config(ROOT, "aws-dev")
    assert config["modelstage:environment"] == "dev"
    assert config["modelstage:rollbackOnAlarms"] == "true"  # stack file value, rendered as the CLI does
    assert config["modelstage:driftThresholdPercent"] == "10"  # Pulumi.yaml default


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "stacks").mkdir()
    return tmp_path


def test_schema_check_rejects_wrong_types_missing_and_undeclared_keys(project_copy: Path) -> None:
    (project_copy / "stacks" / "Pulumi.bad.yaml").write_text(yaml.safe_dump({"config": {
        "modelstage:environment": "dev", "modelstage:minInstances": "three", "modelstage:protected": "yes",
        "modelstage:maxInstnaces": 3}}))
    assert schema_errors(project_copy, "bad") == [
        "modelstage:cloud: required (Pulumi.yaml gives no default) but the stack does not set it",
        "modelstage:minInstances: expected integer, got str 'three'",
        "modelstage:protected: expected boolean, got str 'yes'",
        "modelstage:region: required (Pulumi.yaml gives no default) but the stack does not set it",
        "modelstage:maxInstnaces: not declared in Pulumi.yaml",
    ]

"""Fixtures for the Pulumi program's tests: stack configs as the CLI merges them, and recorded runs
of the real program under mocks (one per stack, shared by the tests that only read them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from infra.offline.runner import Recording, run_program
from infra.offline.stack_config import load_stack_config
from model.bundle import Bundle

ROOT = Path(__file__).resolve().parents[2]
AWS_STACKS = ("aws-dev", "aws-prod")
GCP_STACKS = ("gcp-dev", "gcp-prod")

Run = Callable[..., Recording]


def stack_config(stack: str, bundle: Bundle, **overrides: str) -> dict[str, str]:
    config = load_stack_config(ROOT, stack)
    config["modelstage:bundlePath"] = str(bundle.path)
    config.update({f"modelstage:{k}": v for k, v in overrides.items()})
    return config


@pytest.fixture(scope="session")
def run_stack(bundle: Bundle) -> Run:
    """run_stack("aws-dev", key=value, ...): the program under mocks with the stack's config."""

    def run(stack: str, **overrides: str) -> Recording:
        return run_program(stack_config(stack, bundle, **overrides), stack=stack)

    return run


@pytest.fixture(scope="session")
def recordings(run_stack: Run) -> Mapping[str, Recording]:
    return {stack: run_stack(stack) for stack in AWS_STACKS}


@pytest.fixture(params=AWS_STACKS)
def recording(request: pytest.FixtureRequest, recordings: Mapping[str, Recording]) -> Recording:
    return recordings[str(request.param)]


@pytest.fixture(scope="session")
def gcp_recordings(run_stack: Run) -> Mapping[str, Recording]:
    return {stack: run_stack(stack) for stack in GCP_STACKS}


@pytest.fixture(params=GCP_STACKS)
def gcp_recording(request: pytest.FixtureRequest, gcp_recordings: Mapping[str, Recording]) -> Recording:
    return gcp_recordings[str(request.param)]


def pytest_configure(config: pytest.Config) -> None:
    # pulumi_aws warns about its own deprecated resource classes when its modules are imported.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:pulumi_aws.*")
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:pulumi_gcp.*")

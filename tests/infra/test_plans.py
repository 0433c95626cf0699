"""The committed plans under plans/ are what the program declares today (UPDATE_PLANS=1 rewrites)."""

from __future__ import annotations

import difflib
import os

import pytest

from infra.offline.plan import render
from infra.offline.runner import Recording
from infra.plan import main, plan_path
from model.bundle import Bundle
from tests.infra.conftest import AWS_STACKS, ROOT


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_committed_plan_is_current(stack: str, recordings: dict[str, Recording], bundle: Bundle) -> None:
    text = render(recordings[stack], {str(bundle.path): "out/bundle"})
    path = plan_path(ROOT, stack)
    if os.environ.get("UPDATE_PLANS") == "1":
        path.write_text(text)
    assert path.is_file(), f"{path} is missing: run UPDATE_PLANS=1 pytest {__file__}"
    committed = path.read_text()
    diff = "".join(difflib.unified_diff(committed.splitlines(True), text.splitlines(True), str(path), "program"))
    assert committed == text, f"{path} is stale (UPDATE_PLANS=1 rewrites it):\n{diff[:3000]}"


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_plans_hold_no_machine_dependent_or_secret_values(stack: str, recordings: dict[str, Recording],
                                                         bundle: Bundle) -> None:
    text = render(recordings[stack], {str(bundle.path): "out/bundle"})
    assert str(bundle.path) not in text and "/tmp/" not in text and str(ROOT) not in text
    assert "mock-password" not in text
    assert "file:out/bundle/model.tar.gz" in text
    assert f"{len(recordings[stack].resources)} resources" in text


def test_the_plan_command_checks_a_stack(bundle: Bundle, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["aws-dev", "--bundle", str(bundle.path), "--check"]) == 0
    assert main(["aws-dev", "--bundle", str(bundle.path / "missing"), "--check"]) == 2
    assert "modelstage package" in capsys.readouterr().err

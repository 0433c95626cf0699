"""The committed plans under plans/ are what the program declares today.

`UPDATE_PLANS=1 pytest tests/infra/test_plans.py` rewrites them instead (and says so); without it the
test compares the rendered plan with the committed file and fails with the diff when they differ.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

import infra.plan
from infra.offline.plan import render
from infra.offline.runner import Recording
from infra.plan import main, plan_path
from model.bundle import Bundle
from tests.infra.conftest import AWS_STACKS, GCP_STACKS, ROOT


def stale_message(path: Path, text: str) -> str | None:
    """None when `path` holds exactly `text`; otherwise why not, with the diff."""
    if not path.is_file():
        return f"{path} is missing: run UPDATE_PLANS=1 pytest {__file__}"
    committed = path.read_text()
    if committed == text:
        return None
    diff = "".join(difflib.unified_diff(committed.splitlines(True), text.splitlines(True), str(path), "program"))
    return f"{path} is stale (UPDATE_PLANS=1 rewrites it):\n{diff[:3000]}"


STACKS = (*AWS_STACKS, *GCP_STACKS)


@pytest.fixture(scope="module")
def every_recording(recordings: dict[str, Recording], gcp_recordings: dict[str, Recording]) -> dict[str, Recording]:
    return {**recordings, **gcp_recordings}


@pytest.mark.parametrize("stack", STACKS)
def test_the_committed_plan_is_current(stack: str, every_recording: dict[str, Recording], bundle: Bundle) -> None:
    text = render(every_recording[stack], {str(bundle.path): "out/bundle"})
    path = plan_path(ROOT, stack)
    if os.environ.get("UPDATE_PLANS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        pytest.skip(f"UPDATE_PLANS=1: wrote {path} (compared nothing: rerun without it to check)")
    problem = stale_message(path, text)
    assert problem is None, problem


def test_a_changed_plan_is_reported_stale(tmp_path: Path) -> None:
    path = plan_path(tmp_path, "aws-dev")
    assert "is missing" in (stale_message(path, "plan\n") or "")
    path.parent.mkdir()
    path.write_text("plan\n")
    assert stale_message(path, "plan\n") is None
    problem = stale_message(path, "plan\nresource added\n") or ""
    assert "is stale" in problem and "+resource added" in problem


def test_the_plan_command_writes_then_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # infra.plan against a project root in tmp_path, with the plan text given instead of rendered.
    text = {"now": "plan v1\n"}
    monkeypatch.setattr(infra.plan, "project_root", lambda: tmp_path)
    monkeypatch.setattr(infra.plan, "stack_names", lambda _root: ["aws-dev"])
    monkeypatch.setattr(infra.plan, "plan_text", lambda _root, _stack, _bundle: text["now"])
    args = ["aws-dev", "--bundle", str(tmp_path)]
    assert main([*args, "--check"]) == 1  # no plan written yet
    assert main([*args, "--write"]) == 0 and plan_path(tmp_path, "aws-dev").read_text() == "plan v1\n"
    assert "wrote" in capsys.readouterr().out
    assert main([*args, "--check"]) == 0
    text["now"] = "plan v2\n"
    assert main([*args, "--check"]) == 1
    assert "is stale" in capsys.readouterr().err


@pytest.mark.parametrize("stack", STACKS)
def test_plans_hold_no_machine_dependent_or_secret_values(stack: str, every_recording: dict[str, Recording],
                                                         bundle: Bundle) -> None:
    text = render(every_recording[stack], {str(bundle.path): "out/bundle"})
    assert str(bundle.path) not in text and "/tmp/" not in text and str(ROOT) not in text
    assert "mock-password" not in text and "mock-access-token" not in text
    assert "file:out/bundle/model.tar.gz" in text
    assert "gASV" not in text  # no dill-pickled provider (its bytes change with the code's layout)
    assert "4dabf18193072939515e22adb298388d" not in text  # secrets shown as [secret], never their value
    assert f"{len(every_recording[stack].resources)} resources" in text


def test_the_plan_command_checks_a_stack(bundle: Bundle, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["aws-dev", "--bundle", str(bundle.path), "--check"]) == 0
    assert main(["aws-dev", "--bundle", str(bundle.path / "missing"), "--check"]) == 2
    assert "modelstage package" in capsys.readouterr().err

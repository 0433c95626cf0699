"""Recorded inputs checked against a cloud's own published constraints.

A cloud package supplies checks (`ConstraintCheck`): each reads a `Recording` of the program under
mocks and returns the `Violation`s it finds (a value the cloud's API or schema would refuse) and the
members it could not check (`Unchecked`: an input it cannot map to the cloud's schema, a pattern it
cannot compile). A check must never report a violation for a member it cannot map: it lists the
member as unchecked instead, so a test can print what was not covered.

`run_checks` runs a list of checks over a recording; `format_violations` and `format_unchecked` make
their results readable in a test failure.
"""

# pyright: strict

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from infra.offline.runner import Recording

VALUE_WIDTH = 120  # a value longer than this is shortened in messages


@dataclass(frozen=True)
class Violation:
    """One recorded input the cloud would refuse."""

    resource_type: str  # e.g. the Pulumi type token
    name: str  # the Pulumi logical name
    path: str  # where in the resource's inputs, e.g. "primaryContainer.mode" or "policy.Statement[0].Action"
    value: object
    rule: str  # e.g. "enum", "pattern", "max length", "required", "unknown action"
    allowed: str  # what the rule allows
    source: str  # where the rule comes from, e.g. "botocore 1.2.3 sagemaker CreateModel"

    def describe(self) -> str:
        return (f"{self.resource_type} {self.name!r} {self.path}: {_short(self.value)} breaks {self.rule} "
                f"(allowed: {self.allowed}) [{self.source}]")


@dataclass(frozen=True)
class Unchecked:
    """A recorded member (or rule) a check did not check, and why."""

    resource_type: str
    path: str
    reason: str

    def describe(self) -> str:
        return f"{self.resource_type} {self.path}: {self.reason}"


class ConstraintCheck(Protocol):
    """One source of constraints (a schema catalogue, an action catalogue, ...) applied to a recording."""

    @property
    def title(self) -> str: ...

    def check(self, recording: Recording) -> list[Violation]: ...

    def unchecked(self, recording: Recording) -> list[Unchecked]:
        """What `check` skips for this recording (deduplicated by type and path)."""
        ...


class WalkedCheck:
    """A check that finds its violations and its unchecked members in one walk over the recording."""

    def walk(self, recording: Recording) -> tuple[list[Violation], list[Unchecked]]:
        raise NotImplementedError

    def check(self, recording: Recording) -> list[Violation]:
        return self.walk(recording)[0]

    def unchecked(self, recording: Recording) -> list[Unchecked]:
        return sorted(set(self.walk(recording)[1]), key=lambda u: (u.resource_type, u.path))


@dataclass
class CheckResult:
    violations: list[Violation] = field(default_factory=list[Violation])
    unchecked: list[Unchecked] = field(default_factory=list[Unchecked])

    @property
    def ok(self) -> bool:
        return not self.violations


def run_checks(checks: Sequence[ConstraintCheck], recording: Recording) -> CheckResult:
    result = CheckResult()
    for check in checks:
        result.violations.extend(check.check(recording))
        result.unchecked.extend(check.unchecked(recording))
    result.unchecked = sorted(set(result.unchecked), key=lambda u: (u.resource_type, u.path, u.reason))
    return result


def format_violations(violations: Iterable[Violation], *, heading: str = "") -> str:
    lines = [v.describe() for v in violations]
    if not lines:
        return f"{heading}no violations" if heading else "no violations"
    head = f"{heading}{len(lines)} violation{'s' if len(lines) != 1 else ''}:"
    return "\n".join([head, *(f"  - {line}" for line in lines)])


def format_unchecked(unchecked: Iterable[Unchecked]) -> str:
    lines = [u.describe() for u in unchecked]
    return "\n".join([f"{len(lines)} not checked:", *(f"  - {line}" for line in lines)])


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= VALUE_WIDTH else text[:VALUE_WIDTH - 3] + "..."

"""What every GCP component needs besides its own inputs."""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class GcpCommon:
    name: str  # deployment name: every resource name derives from it
    project: str
    region: str
    project_number: pulumi.Output[str]
    labels: dict[str, str]  # GCP label keys and values (names.label_value)
    protected: bool

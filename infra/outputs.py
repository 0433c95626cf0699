"""The stack outputs every cloud exports under the same names, so `smoke`, `drift` and the plans read
one shape whatever the cloud."""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass, fields

import pulumi

# `pulumi stack output --json` keys; infra/smoke.py reads these.
ENDPOINT_NAME = "endpoint_name"
REGION = "region"
CLOUD = "cloud"


@dataclass(frozen=True)
class StackOutputs:
    endpoint_name: pulumi.Output[str]
    invoke_url: pulumi.Output[str]
    model_version_id: pulumi.Output[str]  # the registry's id of this model version
    image_digest: pulumi.Output[str]  # repository@sha256:...
    artifact_uri: pulumi.Output[str]
    region: str
    cloud: str
    extra: dict[str, pulumi.Output[str]]  # cloud-specific outputs, e.g. model_package_arn on AWS

    def export(self) -> None:
        for f in fields(self):
            if f.name != "extra":
                pulumi.export(f.name, getattr(self, f.name))
        for name, value in sorted(self.extra.items()):
            pulumi.export(name, value)

"""Mocks that stand in for the Pulumi engine and the cloud providers, and record every registration.

`RecordingMonitor` sees what `Mocks.new_resource` does not: the parent, the protect and
retain-on-delete options, the provider and the dependencies of each resource. `RecordingMocks`
asks the stack's cloud package for deterministic values of what the cloud would compute (ARNs,
names, URLs), so a run of the program always records the same thing.
"""

# pyright: strict

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs

if TYPE_CHECKING:
    from infra.clouds import Cloud

DYNAMIC = "pulumi-python:dynamic:Resource"


@dataclass
class Registration:
    typ: str
    name: str
    urn: str
    parent: str
    inputs: dict[str, Any]
    custom: bool
    protect: bool
    retain_on_delete: bool
    provider: str
    dependencies: list[str] = field(default_factory=list[str])
    property_dependencies: dict[str, list[str]] = field(default_factory=dict[str, list[str]])


def _image_state(inputs: dict[str, Any]) -> dict[str, Any]:
    """infra.built_image.BuiltImage, whatever the registry: a digest derived from the repository."""
    digest = "sha256:" + hashlib.sha256(f"{inputs['repository']}".encode()).hexdigest()
    return {"image_ref": f"{inputs['repository']}@{digest}", "digest": digest, "tag": "modelstage-runtime:mock"}


class RecordingMocks(pulumi.runtime.Mocks):
    """Resources and calls answered by the stack's cloud package (`Cloud.mock_resource`, `mock_call`)."""

    def __init__(self, region: str, cloud: Cloud[Any] | None) -> None:
        self.region = region
        self.cloud = cloud
        self.calls: list[str] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        inputs: dict[str, Any] = dict(cast(Any, args).inputs)
        made = self.cloud.mock_resource(args.typ, args.name, inputs, self.region) if self.cloud else None
        rid, state = made if made is not None else (None, dict(inputs))
        if args.typ == DYNAMIC and "repository" in inputs:
            state.update(_image_state(inputs))
        state.setdefault("name", args.name)
        return rid or f"{args.name}-id", state

    def call(self, args: MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        self.calls.append(args.token)
        result = self.cloud.mock_call(args.token, dict(cast(Any, args).args), self.region) if self.cloud else None
        return result or {}, []  # no check failures; (dict, None) would make MockMonitor iterate None


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:
        response: Any = cast(Any, super()).RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = rpc.deserialize_properties(request.object)
            self.registrations.append(Registration(
                typ=request.type, name=request.name, urn=response.urn, parent=request.parent, inputs=dict(inputs),
                custom=bool(request.custom), protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete), provider=request.provider,
                dependencies=list(request.dependencies),
                property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            ))
        return response

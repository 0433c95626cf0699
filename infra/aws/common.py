"""What every AWS component needs besides its own inputs, and small helpers they share."""

# pyright: strict

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from model.bundle import Bundle

Doc = dict[str, Any]


@dataclass(frozen=True)
class AwsCommon:
    name: str  # deployment name: every resource name derives from it
    region: str
    partition: str
    account_id: pulumi.Output[str]
    tags: dict[str, str]
    protected: bool


def pinned_bundle_env(bundle: Bundle) -> dict[str, str]:
    """The container environment that pins the deployed bundle: the runtime refuses any other.

    SageMaker unpacks model.tar.gz, so the runtime checks bundle.json's digest (which lists every
    file's); the archive's is for runtimes that receive the archive itself (docs/bundle-hardening.md)."""
    return {"MODELSTAGE_BUNDLE_SHA256": bundle.archive_sha256(),
            "MODELSTAGE_BUNDLE_MANIFEST_SHA256": bundle.manifest_sha256()}


def child(parent: pulumi.Resource, *more: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """Options of a component's child: parented (so it inherits the providers), plus `more`."""
    opts = pulumi.ResourceOptions(parent=parent)
    for extra in more:
        opts = pulumi.ResourceOptions.merge(opts, extra)
    return opts


def json_document(doc: Doc) -> str:
    return json.dumps(doc, indent=None, sort_keys=False)


def document(build: Callable[..., Doc], *inputs: pulumi.Input[str]) -> pulumi.Output[str]:
    """A JSON policy built from `inputs` once they resolve: `document(fn, a, b)` == json(fn(a, b))."""
    return pulumi.Output.all(*inputs).apply(lambda values: json_document(build(*values)))

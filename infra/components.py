"""Helpers every cloud's components use: child resource options, and the container environment that
pins the deployed bundle."""

# pyright: strict

from __future__ import annotations

import pulumi

from model.bundle import Bundle


def child(parent: pulumi.Resource, *more: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """Options of a component's child: parented (so it inherits the providers), plus `more`."""
    opts = pulumi.ResourceOptions(parent=parent)
    for extra in more:
        opts = pulumi.ResourceOptions.merge(opts, extra)
    return opts


def pinned_bundle_env(bundle: Bundle) -> dict[str, str]:
    """The container environment that pins the deployed bundle: the runtime refuses any other.

    A cloud that unpacks model.tar.gz (SageMaker) has the runtime check bundle.json's digest, which
    lists every file's; the archive's is for runtimes that receive the archive itself
    (docs/bundle-hardening.md)."""
    return {"MODELSTAGE_BUNDLE_SHA256": bundle.archive_sha256(),
            "MODELSTAGE_BUNDLE_MANIFEST_SHA256": bundle.manifest_sha256()}

"""The bundle as a version of one Vertex AI model: uploaded with the serving container's spec (image
by digest, routes, port, the pinned bundle digests), labelled with the bundle version and metrics.
A new bundle is a new version of the same model (`parent_model`), aliased `champion`."""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.components import child, pinned_bundle_env
from infra.gcp import names
from infra.gcp.common import GcpCommon
from infra.gcp.vertex.model import VertexModel
from infra.protection import model_version
from model.bundle import Bundle

ALIAS = "champion"


@dataclass(frozen=True)
class ModelRegistrationArgs:
    common: GcpCommon
    bundle: Bundle
    image_ref: pulumi.Output[str]
    artifact_uri: pulumi.Output[str]


def metric_labels(metrics: dict[str, object]) -> dict[str, str]:
    """The bundle's numeric held-out metrics as label values (GCP labels allow [a-z0-9_-] only)."""
    out: dict[str, str] = {}
    for key, value in sorted(metrics.items()):
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[names.label_value(f"metric-{key}")] = names.label_value(f"{value:.6g}")
    return out


class ModelRegistration(pulumi.ComponentResource):
    model: VertexModel

    def __init__(self, name: str, args: ModelRegistrationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:gcp:ModelRegistration", name, None, opts)
        c, bundle = args.common, args.bundle
        labels = {**c.labels, "modelstage-version": names.label_value(bundle.version),
                  **metric_labels(dict(bundle.metrics))}
        self.model = VertexModel(
            f"{name}-model", project=c.project, region=c.region, model_id=c.name,
            display_name=f"{c.name} ({bundle.name})", artifact_uri=args.artifact_uri, image_uri=args.image_ref,
            bundle_sha256=bundle.archive_sha256(), predict_route=names.PREDICT_ROUTE,
            health_route=names.HEALTH_ROUTE, env=pinned_bundle_env(bundle), labels=labels,
            version_aliases=[ALIAS], version_description=f"bundle {bundle.name} {bundle.version}",
            opts=child(self, model_version(c.protected)))
        self.register_outputs({"versioned_name": self.model.versioned_name})

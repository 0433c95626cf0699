"""The project services (APIs) the deployment uses, enabled by the stack and left on at destroy:
turning an API off would break whatever else in the project uses it."""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components import child
from infra.gcp.common import GcpCommon

BASE = ("aiplatform", "artifactregistry", "storage", "monitoring", "logging", "cloudscheduler", "iam")


@dataclass(frozen=True)
class ProjectServicesArgs:
    common: GcpCommon
    customer_key: bool  # Cloud KMS
    capture: bool  # BigQuery holds the captured requests


class ProjectServices(pulumi.ComponentResource):
    services: list[gcp.projects.Service]

    def __init__(self, name: str, args: ProjectServicesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:gcp:ProjectServices", name, None, opts)
        apis = [*BASE, *(["cloudkms"] if args.customer_key else []), *(["bigquery"] if args.capture else [])]
        self.services = [
            gcp.projects.Service(f"{name}-{api}", project=args.common.project, service=f"{api}.googleapis.com",
                                 disable_on_destroy=False, disable_dependent_services=False, opts=child(self))
            for api in apis
        ]
        self.register_outputs({"services": [s.service for s in self.services]})

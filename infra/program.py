"""What `pulumi up` runs: read the spec once, load the bundle, deploy it on the spec's cloud, export."""

# pyright: strict

from __future__ import annotations

from typing import Any

from infra import clouds
from infra.bundle_input import deployment_name, load_deploy_bundle
from infra.outputs import StackOutputs
from infra.spec import DeploymentSpec, read_spec
from model.bundle import Bundle


def deploy(spec: DeploymentSpec[Any], bundle: Bundle) -> StackOutputs:
    cloud = clouds.get(spec.cloud)  # parse_spec accepted only a registered cloud
    return cloud.deploy(deployment_name(spec, bundle, cloud.name_max), spec, bundle)


def run() -> None:
    spec = read_spec()
    deploy(spec, load_deploy_bundle(spec)).export()

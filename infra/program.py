"""What `pulumi up` runs: read the spec once, load the bundle, deploy it on the spec's cloud, export."""

# pyright: strict

from __future__ import annotations

from infra.bundle_input import deployment_name, load_deploy_bundle
from infra.errors import SpecError
from infra.outputs import StackOutputs
from infra.spec import DeploymentSpec, read_spec
from infra.spec_keys import qualified
from model.bundle import Bundle


def deploy(spec: DeploymentSpec, bundle: Bundle) -> StackOutputs:
    name = deployment_name(spec, bundle)
    if spec.cloud == "aws":
        from infra.aws import ModelDeployment, ModelDeploymentArgs

        return ModelDeployment(name, ModelDeploymentArgs(spec=spec, bundle=bundle)).outputs
    raise SpecError(f"{qualified('cloud')}: {spec.cloud!r} has no deployment package yet; expected aws")


def run() -> None:
    spec = read_spec()
    deploy(spec, load_deploy_bundle(spec)).export()

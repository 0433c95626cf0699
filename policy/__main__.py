"""The policy pack the Pulumi CLI runs: `pulumi preview --policy-pack policy`.

Never import this module elsewhere: PolicyPack's constructor serves the policies and blocks.
"""

import sys
from pathlib import Path

# The CLI runs this file with policy/ first on sys.path; the rules import each other as `policy.*`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.modelstage_rules import POLICIES

PolicyPack(name="modelstage", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)

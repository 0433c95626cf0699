"""The modelstage policy pack (pulumi_policy): rules in modelstage_rules.py, the pack in __main__.py."""

"""What every rule module of the policy pack shares: the rule signatures and readers of props.

Resource rules see one resource's props (wire names, as `pulumi preview` passes them); stack rules
see every resource with its dependencies, for checks that span resources. Props may lack optional
keys: rules read them with `.get`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

ResourceRule = Callable[[ResourceValidationArgs, ReportViolation], None]
StackRule = Callable[[StackValidationArgs, ReportViolation], None]


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def document(value: Any) -> Mapping[str, Any]:
    """A JSON policy document given as a string or already parsed; {} for anything else."""
    doc = json.loads(value) if isinstance(value, str) else value
    return doc if isinstance(doc, Mapping) else {}

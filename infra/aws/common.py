"""What every AWS component needs besides its own inputs, and the JSON policy documents they share."""

# pyright: strict

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

Doc = dict[str, Any]


@dataclass(frozen=True)
class AwsCommon:
    name: str  # deployment name: every resource name derives from it
    region: str
    partition: str
    account_id: pulumi.Output[str]
    tags: dict[str, str]
    protected: bool


def json_document(doc: Doc) -> str:
    return json.dumps(doc, indent=None, sort_keys=False)


def document(build: Callable[..., Doc], *inputs: pulumi.Input[str]) -> pulumi.Output[str]:
    """A JSON policy built from `inputs` once they resolve: `document(fn, a, b)` == json(fn(a, b))."""
    return pulumi.Output.all(*inputs).apply(lambda values: json_document(build(*values)))

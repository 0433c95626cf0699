"""Recorded aws-native inputs validated against the CloudFormation resource schemas cfn-lint ships.

aws-native's types are CloudFormation's (`aws-native:sagemaker:Endpoint` is `AWS::SageMaker::Endpoint`)
and its input names are CloudFormation's in camelCase. Each recorded resource's inputs become the
CloudFormation properties, guided by the schema (a camelCase key becomes the property of the same name
whatever its case; the keys of a free-form map, e.g. `customerMetadataProperties`, stay as they are),
and are validated with jsonschema against the schema of the stack's region
(`cfnlint/data/schemas/providers/<region>.json` names each type's schema in
`cfnlint/data/schemas/resources/`). Names are the real providers' (`names.RealNames`).

A key the schema has no property for is listed as not checked and left out, never a violation.
"""

# pyright: strict, reportMissingTypeStubs=false, reportUnknownMemberType=false, reportUnknownVariableType=false
# pyright: reportUnknownArgumentType=false
# (cfn-lint and jsonschema's validators are handled as Any)

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata, resources
from typing import TYPE_CHECKING, Any, cast

import regex
from jsonschema import Draft7Validator, validators
from jsonschema.exceptions import ValidationError

from infra.aws.constraints.names import RealNames, real_names
from infra.offline.constraints import Unchecked, Violation

if TYPE_CHECKING:
    from infra.offline.runner import Recording

_SCHEMAS = ("data", "schemas")
_PLAIN = frozenset({"enum", "pattern", "minLength", "maxLength", "minimum", "maximum", "type", "minItems", "maxItems"})


def cfn_lint_version() -> str:
    return metadata.version("cfn-lint")


def _read(*parts: str) -> Any:
    node = resources.files("cfnlint")
    for part in (*_SCHEMAS, *parts):
        node = node.joinpath(part)
    return json.loads(node.read_text(encoding="utf-8"))


@functools.cache
def _provider(region: str) -> Mapping[str, str]:
    """CloudFormation type, lower-cased -> (its spelling, its schema file) for `region`."""
    return {k.lower(): k for k in cast(dict[str, str], _read("providers", f"{region}.json"))}


@functools.cache
def _files(region: str) -> Mapping[str, str]:
    return cast(dict[str, str], _read("providers", f"{region}.json"))


def cfn_type(typ: str, region: str) -> str | None:
    """`aws-native:sagemaker:Endpoint` -> `AWS::SageMaker::Endpoint` (None: not in the region's schemas)."""
    parts = typ.split(":")
    if len(parts) != 3 or parts[0] != "aws-native":
        return None
    return _provider(region).get(f"aws::{parts[1]}::{parts[2]}".lower())


@functools.cache
def schema(cfn: str, region: str) -> Mapping[str, Any]:
    return cast(dict[str, Any], _read("resources", f"{_files(region)[cfn]}.json"))


REGEX_PATTERN = "regexPattern"  # a `pattern` Python's re cannot compile (e.g. \\p{L}), checked with `regex`


def _regex_pattern(validator: Any, pattern: str, instance: Any, _schema: Any) -> Any:
    if validator.is_type(instance, "string") and regex.search(pattern, instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator: Any = validators.extend(Draft7Validator, {REGEX_PATTERN: _regex_pattern})


def _portable(node: Any, skipped: list[str]) -> Any:
    """`node` with each pattern Python's re cannot compile moved to REGEX_PATTERN (checked with the
    `regex` module), or dropped (and named in `skipped`) when neither compiles."""
    if isinstance(node, list):
        return [_portable(n, skipped) for n in cast(list[Any], node)]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in cast(dict[str, Any], node).items():
        if key == "pattern" and isinstance(value, str) and not _compiles(value):
            if _regex_compiles(value):
                out[REGEX_PATTERN] = value
            else:
                skipped.append(value)
        elif key == "patternProperties" and isinstance(value, dict):
            out[key] = {(k if _compiles(k) else ".*"): _portable(v, skipped)
                        for k, v in cast(dict[str, Any], value).items()}
        else:
            out[key] = _portable(value, skipped)
    return out


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _regex_compiles(pattern: str) -> bool:
    try:
        regex.compile(pattern)
    except regex.error:
        return False
    return True


@functools.cache
def _prepared(cfn: str, region: str) -> tuple[Any, tuple[str, ...]]:
    skipped: list[str] = []
    return _Validator(_portable(dict(schema(cfn, region)), skipped)), tuple(skipped)


def _validator(cfn: str, region: str) -> Any:
    return _prepared(cfn, region)[0]


@dataclass
class _Convert:
    root: Mapping[str, Any]
    unchecked: list[str] = field(default_factory=list[str])

    def resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while "$ref" in node and seen < 20:
            ref = str(node["$ref"])
            target: Any = self.root
            for part in ref.removeprefix("#/").split("/"):
                target = target[part]
            node = cast(Mapping[str, Any], target)
            seen += 1
        return node

    def _alternatives(self, node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        found = [self.resolve(node)]
        for key in ("oneOf", "anyOf", "allOf"):
            for sub in cast(list[Mapping[str, Any]], found[0].get(key) or []):
                found += self._alternatives(sub)
        return found

    def value(self, value: Any, node: Mapping[str, Any], path: str) -> Any:
        options = self._alternatives(node)
        if isinstance(value, dict):
            props: dict[str, Mapping[str, Any]] = {}
            free: Mapping[str, Any] | None = None
            for option in options:
                props.update(cast(dict[str, Mapping[str, Any]], option.get("properties") or {}))
                extra = option.get("additionalProperties")
                if isinstance(extra, dict):
                    free = cast(Mapping[str, Any], extra)
                elif option.get("patternProperties") or (
                        option.get("type") == "object" and "properties" not in option and extra is not False):
                    free = {}  # a free-form map: its keys stay as they are
            by_lower = {k.lower(): k for k in props}
            out: dict[str, Any] = {}
            for key, item in cast(dict[str, Any], value).items():
                at = f"{path}.{key}" if path else key
                prop = by_lower.get(key.lower())
                if prop is not None:
                    out[prop] = self.value(item, props[prop], at)
                elif free is not None:
                    out[key] = self.value(item, free, at)
                else:
                    self.unchecked.append(at)
            return out
        if isinstance(value, list):
            items: Mapping[str, Any] = {}
            for option in options:
                if isinstance(option.get("items"), dict):
                    items = cast(Mapping[str, Any], option["items"])
            return [self.value(v, items, f"{path}[{i}]") for i, v in enumerate(cast(list[Any], value))]
        return value


def properties(cfn: str, region: str, inputs: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The CloudFormation properties of `inputs` and the input paths that have none."""
    root = schema(cfn, region)
    convert = _Convert(root)
    props = convert.value(dict(inputs), {"type": "object", "properties": root.get("properties") or {}}, "")
    return cast(dict[str, Any], props), convert.unchecked


@dataclass
class CfnSchemaCheck:
    """aws-native resources against cfn-lint's CloudFormation resource schemas for `region`."""

    region: str

    @property
    def title(self) -> str:
        return f"cfn-lint {cfn_lint_version()} CloudFormation schemas ({self.region})"

    def check(self, recording: Recording) -> list[Violation]:
        names = real_names(recording.resources)
        found: list[Violation] = []
        for r in recording.resources:
            cfn = cfn_type(r.typ, self.region) if r.custom else None
            if cfn is not None:
                found += validate(r.typ, r.name, r.inputs, self.region, names)
        return found

    def unchecked(self, recording: Recording) -> list[Unchecked]:
        skipped: list[Unchecked] = []
        for r in recording.resources:
            if not r.custom or not r.typ.startswith("aws-native:"):
                continue
            cfn = cfn_type(r.typ, self.region)
            if cfn is None:
                skipped.append(Unchecked(r.typ, "*", f"no CloudFormation schema in {self.region}"))
                continue
            skipped += [Unchecked(r.typ, p, f"no property of {cfn}") for p in properties(cfn, self.region, r.inputs)[1]]
            skipped += [Unchecked(r.typ, "*", f"a pattern of {cfn} that compiles nowhere: {p!r}")
                        for p in _prepared(cfn, self.region)[1]]
        return skipped


def validate(typ: str, name: str, inputs: Mapping[str, Any], region: str, names: RealNames | None = None,
             ) -> list[Violation]:
    cfn = cfn_type(typ, region)
    if cfn is None:
        return []
    props, _ = properties(cfn, region, (names or RealNames({})).inputs(typ, name, inputs))
    source = f"cfn-lint {cfn_lint_version()} schema {cfn} ({region})"
    found: list[Violation] = []
    for error in sorted(_validator(cfn, region).iter_errors(props), key=lambda e: list(e.absolute_path)):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
        plain = error.validator in _PLAIN or error.validator == REGEX_PATTERN
        allowed = json.dumps(error.validator_value) if plain else error.message
        rule = "pattern" if error.validator == REGEX_PATTERN else str(error.validator)
        found.append(Violation(typ, name, path or "(properties)", error.instance, rule,
                               allowed[:300], source))
    return found

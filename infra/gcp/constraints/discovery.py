"""Recorded pulumi-gcp inputs checked against Google's API discovery documents (the ones
google-api-python-client ships under googleapiclient/discovery_cache/documents/), plus the documented
rules discovery states only in prose (`rules`), per type as `discovery_map.TYPES` maps it.

Each recorded type becomes a request body (`TypeMap.schema` of its API) and URL parameters
(`TypeMap.params`). A camelCase input becomes the schema's property of the same name whatever its
case; the renames and adapters of the map cover what pulumi-gcp (Terraform-derived) names or shapes
differently. Each value is checked for its discovery type (string, integer, number, boolean, object,
array, map; int64 as a string of digits or a number; google-duration) and enum. The documented
rules then apply at their body paths or to the URL parameters, and the label rules to every
`labels` / `userLabels` map the type declares as resource labels. Names are pulumi-gcp's
(`names.RealNames`), not the mocks'.

A member the schema has no property for is listed as not checked, never a violation.
"""

# pyright: strict

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata, resources
from typing import TYPE_CHECKING, Any, cast

from infra.gcp.constraints import rules
from infra.gcp.constraints.discovery_map import TYPES, TypeMap
from infra.gcp.constraints.names import RealNames, real_names
from infra.offline.constraints import Unchecked, Violation, WalkedCheck

if TYPE_CHECKING:
    from infra.offline.runner import Recording

_INTEGRAL = ("int32", "uint32", "int64", "uint64")


def client_version() -> str:
    return metadata.version("google-api-python-client")


@functools.cache
def document(api: str) -> Mapping[str, Any]:
    """The discovery document of `api` ("storage.v1")."""
    node = resources.files("googleapiclient").joinpath("discovery_cache", "documents", f"{api}.json")
    return cast(dict[str, Any], json.loads(node.read_text(encoding="utf-8")))


def source(api: str, schema: str) -> str:
    return f"google-api-python-client {client_version()} discovery {api} (rev {document(api).get('revision')}) {schema}"


@dataclass
class _Walk:
    typ: str
    name: str
    api: str
    violations: list[Violation] = field(default_factory=list[Violation])
    unchecked: list[Unchecked] = field(default_factory=list[Unchecked])

    def bad(self, path: str, value: object, rule: str, allowed: str, src: str) -> None:
        self.violations.append(Violation(self.typ, self.name, path, value, rule, allowed, src))

    def skip(self, path: str, reason: str) -> None:
        self.unchecked.append(Unchecked(self.typ, path, reason))

    def resolve(self, node: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
        ref = node.get("$ref")
        if isinstance(ref, str):
            return cast(Mapping[str, Any], document(self.api)["schemas"][ref]), ref
        return node, ""

    def value(self, value: Any, node: Mapping[str, Any], path: str, schema: str) -> None:
        node, ref = self.resolve(node)
        schema = ref or schema
        kind = node.get("type")
        src = source(self.api, f"{schema}.{path}" if path else schema)
        if kind == "object" or "properties" in node:
            if not isinstance(value, dict):
                self.bad(path, value, "type", f"an object ({schema})", src)
                return
            self.object(cast(dict[str, Any], value), node, path, schema)
        elif kind == "array":
            if not isinstance(value, list):
                self.bad(path, value, "type", "a list", src)
                return
            for i, item in enumerate(cast(list[Any], value)):
                self.value(item, cast(Mapping[str, Any], node.get("items") or {}), f"{path}[{i}]", schema)
        elif kind == "string":
            self.string(value, node, path, src)
        elif kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
                self.bad(path, value, "type", "an integer", src)
        elif kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.bad(path, value, "type", "a number", src)
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.bad(path, value, "type", "a boolean", src)
        elif kind == "any":
            return
        else:
            self.skip(path, f"a discovery {kind!r} member: not checked")

    def object(self, value: dict[str, Any], node: Mapping[str, Any], path: str, schema: str) -> None:
        props = cast(dict[str, Any], node.get("properties") or {})
        extra = node.get("additionalProperties")
        by_lower = {k.lower(): k for k in props}
        for key, item in value.items():
            at = f"{path}.{key}" if path else key
            prop = by_lower.get(key.lower())
            if prop is not None:
                self.value(item, props[prop], at, schema)
            elif isinstance(extra, dict):
                self.value(item, cast(Mapping[str, Any], extra), at, schema)
            else:
                self.skip(at, f"no property of {schema} it maps to")

    def string(self, value: Any, node: Mapping[str, Any], path: str, src: str) -> None:
        fmt = node.get("format")
        if fmt in _INTEGRAL:
            ok = (isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()) or (
                isinstance(value, str) and value.lstrip("-").isdigit())
            if not ok:
                self.bad(path, value, "type", f"an {fmt} (a whole number)", src)
            return
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.bad(path, value, "type", "a string", src)
            return
        if fmt == "google-duration" and rules.seconds(value) is None:
            self.bad(path, value, "format", 'a google-duration: seconds with an "s" suffix, e.g. "3.5s"', src)
        enum = cast(list[str] | None, node.get("enum"))
        if enum and str(value) not in enum:
            self.bad(path, value, "enum", ", ".join(enum), src)


def _get(value: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = value
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = cast(dict[str, Any], node)[part]
    return True, node


def check_inputs(typ: str, name: str, inputs: Mapping[str, Any], spec: TypeMap, names: RealNames | None = None,
                 ) -> tuple[list[Violation], list[Unchecked]]:
    real = (names or RealNames({})).inputs(typ, name, inputs)
    walk = _Walk(typ, name, spec.api)
    doc_src = f"{spec.api} {spec.schema}"
    body: dict[str, Any] = {}
    for key, value in real.items():
        if key in spec.params or key in spec.provider_only:
            continue
        body[spec.renames.get(key, key)] = value
    if spec.adapt is not None:
        body = spec.adapt(body)
    for path, documented in spec.body_rules.items():
        present, value = _get(body, path)
        if present:
            for b in documented.check(value):
                walk.bad(path, value, b.rule, b.allowed, documented.source)
    for key, documented in spec.params.items():
        if key in real and documented is not None:
            for b in documented.check(real[key]):
                walk.bad(key, real[key], b.rule, b.allowed, documented.source)
    for path in spec.labels:
        present, value = _get(body, path)
        if present:
            for where, item, b in rules.label_problems(value, spec.label_rules):
                walk.bad(f"{path}{where}", item, b.rule, b.allowed, spec.label_rules.source)
    root = document(spec.api)["schemas"][spec.schema]
    walk.value(body, root, "", spec.schema)
    walk.unchecked += [Unchecked(typ, k, f"provider-only: {why}") for k, why in spec.provider_only.items() if k in real]
    del doc_src
    return walk.violations, walk.unchecked


@dataclass
class DiscoveryCheck(WalkedCheck):
    """pulumi-gcp resources against the Google API discovery documents (`discovery_map.TYPES`)."""

    types: Mapping[str, TypeMap] = field(default_factory=lambda: TYPES)

    @property
    def title(self) -> str:
        return f"Google API discovery documents (google-api-python-client {client_version()})"

    def walk(self, recording: Recording) -> tuple[list[Violation], list[Unchecked]]:
        names = real_names(recording.resources)
        violations: list[Violation] = []
        unchecked: list[Unchecked] = []
        for r in recording.resources:
            if not r.custom or not r.typ.startswith("gcp:"):
                continue
            spec = self.types.get(r.typ)
            if spec is None:
                unchecked.append(Unchecked(r.typ, "*", "no API schema mapped for this type"))
                continue
            v, u = check_inputs(r.typ, r.name, r.inputs, spec, names)
            violations += v
            unchecked += u
        return violations, unchecked

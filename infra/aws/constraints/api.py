"""Recorded pulumi-aws inputs checked against botocore's service models (the AWS APIs' own input shapes).

Each recorded type becomes the API calls of `api_map.TYPES`; each input value is checked against the
call's input shape: enums, patterns, string lengths, numeric ranges, list and map sizes, and the
required members of every structure. Names are the real providers' (`names.RealNames`).

Patterns are Java regular expressions (AWS validates requests in Java): the POSIX classes
(`\\p{Print}`, `\\p{Alnum}`, ...) become their ASCII sets, a surrogate-pair range becomes the
supplementary planes, and the pattern must match the whole value, as Java's `Pattern.matches` does. A
pattern that still does not compile, or takes too long, is listed as not checked, never a violation.
A member the map cannot place in the shape is listed as not checked too.
"""

# pyright: strict, reportMissingTypeStubs=false, reportUnknownMemberType=false, reportUnknownVariableType=false
# pyright: reportUnknownArgumentType=false
# (botocore and regex ship no type stubs; their objects are handled as Any)

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import botocore
import botocore.session
import regex

from infra.aws.constraints.api_map import TYPES, Call, TypeMap
from infra.aws.constraints.names import RealNames, real_names
from infra.offline.constraints import Unchecked, Violation, WalkedCheck

if TYPE_CHECKING:
    from infra.offline.runner import Recording

PATTERN_TIMEOUT_S = 2.0
_POSIX = {"Print": r"\x20-\x7E", "Graph": r"\x21-\x7E", "Alnum": "a-zA-Z0-9", "Alpha": "a-zA-Z", "Digit": "0-9",
          "Upper": "A-Z", "Lower": "a-z", "XDigit": "0-9a-fA-F", "Space": r" \t\n\x0B\f\r", "ASCII": r"\x00-\x7F",
          "Punct": r"!-/:-@\[-`{-~", "Blank": r" \t", "Cntrl": r"\x00-\x1F\x7F"}
_SURROGATES = re.compile(r"\\u[dD]800\\u[dD][cC]00-\\u[dD][bB][fF][fF]\\u[dD][fF][fF][fF]")
_NUMBERS = ("integer", "long", "float", "double")


@functools.cache
def _session() -> Any:
    return botocore.session.get_session()


@functools.cache
def input_shape(service: str, operation: str) -> Any:
    return _session().get_service_model(service).operation_model(operation).input_shape


@functools.cache
def compile_pattern(pattern: str) -> Any:
    """The Java `pattern` as a compiled `regex` pattern; raises regex.error when it cannot be."""
    return regex.compile(java_to_python(pattern))


def java_to_python(pattern: str) -> str:
    text = _SURROGATES.sub(r"\\U00010000-\\U0010FFFF", pattern)
    out: list[str] = []
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            posix = re.match(r"\\p\{(?:Is)?(\w+)\}", text[i:])
            if posix and posix.group(1) in _POSIX:
                chars = _POSIX[posix.group(1)]
                out.append(chars if depth else f"[{chars}]")
                i += posix.end()
                continue
            out.append(text[i:i + 2])
            i += 2
            continue
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
        out.append(ch)
        i += 1
    return "".join(out)


@dataclass
class _Walk:
    typ: str
    name: str
    source: str
    violations: list[Violation] = field(default_factory=list[Violation])
    unchecked: list[Unchecked] = field(default_factory=list[Unchecked])

    def violation(self, path: str, value: object, rule: str, allowed: str) -> None:
        self.violations.append(Violation(self.typ, self.name, path, value, rule, allowed, self.source))

    def skip(self, path: str, reason: str) -> None:
        self.unchecked.append(Unchecked(self.typ, path, reason))

    # -- values ---------------------------------------------------------------------------------------

    def value(self, value: Any, shape: Any, path: str) -> None:
        kind = shape.type_name
        if kind == "structure":
            self.structure(value, shape, path)
        elif kind == "list":
            self.list(value, shape, path)
        elif kind == "map":
            self.map(value, shape, path)
        elif kind == "string":
            self.string(value, shape, path)
        elif kind in _NUMBERS:
            self.number(value, shape, path, integral=kind in ("integer", "long"))
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.violation(path, value, "type", "a boolean")
        else:
            self.skip(path, f"a {kind} member: not checked")

    def structure(self, value: Any, shape: Any, path: str, *, partial: bool = False,
                  provided: frozenset[str] = frozenset()) -> None:
        if not isinstance(value, dict):
            self.violation(path, value, "type", f"a {shape.name} structure")
            return
        members: dict[str, str] = {m.lower(): m for m in shape.members}
        present: set[str] = set()
        for key, item in value.items():
            at = f"{path}.{key}" if path else key
            member = members.get(key.lower())
            if member is None:
                self.skip(at, f"no member of {shape.name} it maps to")
                continue
            present.add(member)
            self.value(item, shape.members[member], at)
        if not partial:
            for m in shape.required_members:
                if m not in present and m not in provided:
                    self.violation(f"{path}.{m}" if path else m, None, "required member", f"{shape.name} requires {m}")

    def list(self, value: Any, shape: Any, path: str) -> None:
        member = shape.member
        if isinstance(value, dict) and member.type_name == "structure":
            value = _pairs(value, member)  # pyright: ignore[reportUnknownArgumentType]
            if value is None:
                self.skip(path, f"a map where {shape.name} is a list")
                return
        if not isinstance(value, list):
            self.violation(path, value, "type", f"a list ({shape.name})")
            return
        self._size(value, shape, path, "items")
        for i, item in enumerate(value):
            self.value(item, member, f"{path}[{i}]")

    def map(self, value: Any, shape: Any, path: str) -> None:
        if not isinstance(value, dict):
            self.violation(path, value, "type", f"a map ({shape.name})")
            return
        self._size(value, shape, path, "entries")
        for k, v in value.items():
            self.string(k, shape.key, f"{path} key {k!r}")
            self.value(v, shape.value, f"{path}.{k}")

    def string(self, value: Any, shape: Any, path: str) -> None:
        if not isinstance(value, str):
            if isinstance(value, bool | int | float):
                value = str(value).lower() if isinstance(value, bool) else str(value)
            else:
                self.violation(path, value, "type", "a string")
                return
        meta = shape.metadata
        enum = shape.enum
        if enum and value not in enum:
            self.violation(path, value, "enum", ", ".join(enum))
        lo, hi = meta.get("min"), meta.get("max")
        if lo is not None and len(value) < lo:
            self.violation(path, value, "min length", f"at least {lo} characters, got {len(value)}")
        if hi is not None and len(value) > hi:
            self.violation(path, value, "max length", f"at most {hi} characters, got {len(value)}")
        pattern = meta.get("pattern")
        if pattern:
            self._pattern(value, pattern, path)

    def _pattern(self, value: str, pattern: str, path: str) -> None:
        try:
            compiled = compile_pattern(pattern)
        except regex.error as exc:
            self.skip(path, f"pattern {pattern!r} does not compile in Python ({exc})")
            return
        try:
            matched = compiled.fullmatch(value, timeout=PATTERN_TIMEOUT_S)
        except TimeoutError:
            self.skip(path, f"pattern {pattern!r} took over {PATTERN_TIMEOUT_S} s")
            return
        if matched is None:
            self.violation(path, value, "pattern", pattern)

    def number(self, value: Any, shape: Any, path: str, *, integral: bool) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.violation(path, value, "type", "a number")
            return
        if integral and not float(value).is_integer():
            self.violation(path, value, "type", "an integer")
        meta = shape.metadata
        lo, hi = meta.get("min"), meta.get("max")
        if lo is not None and value < lo:
            self.violation(path, value, "min value", f">= {lo}")
        if hi is not None and value > hi:
            self.violation(path, value, "max value", f"<= {hi}")

    def _size(self, value: list[Any] | dict[str, Any], shape: Any, path: str, what: str) -> None:
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if lo is not None and len(value) < lo:
            self.violation(path, f"{len(value)} {what}", f"min {what}", f"at least {lo}")
        if hi is not None and len(value) > hi:
            self.violation(path, f"{len(value)} {what}", f"max {what}", f"at most {hi}")


def rename(value: Any, renames: Mapping[str, str], key_path: str = "") -> Any:
    """`value` with the keys `renames` names (by input path, list items as `[]`) renamed; a dotted
    target nests the value under new structures (merged with their siblings)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            sub = f"{key_path}.{k}" if key_path else str(k)
            *parents, last = renames.get(sub, str(k)).split(".")
            node = out
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = rename(v, renames, sub)
        return out
    if isinstance(value, list):
        return [rename(v, renames, f"{key_path}[]") for v in value]
    return value


def _pairs(value: dict[str, Any], member: Any) -> list[dict[str, Any]] | None:
    """A Pulumi map as the API's list of key/value structures (Tag {Key, Value}, Dimension {Name, Value},
    KMS's {TagKey, TagValue}); None when the structure has no such pair of members."""
    names = list(member.members)
    key = next((n for n in names if n in ("Key", "TagKey", "Name", "key", "name")), None)
    val = next((n for n in names if n in ("Value", "TagValue", "value")), None)
    if key is None or val is None:
        return None
    return [{key: k, val: v} for k, v in value.items()]


@dataclass
class BotocoreCheck(WalkedCheck):
    """pulumi-aws resources against botocore's service models (`api_map.TYPES`)."""

    title: str = f"botocore {botocore.__version__} service models"
    types: Mapping[str, TypeMap] = field(default_factory=lambda: TYPES)

    def walk(self, recording: Recording) -> tuple[list[Violation], list[Unchecked]]:
        names = real_names(recording.resources)
        violations: list[Violation] = []
        unchecked: list[Unchecked] = []
        for r in recording.resources:
            if not r.custom or not r.typ.startswith("aws:"):
                continue
            spec = self.types.get(r.typ)
            if spec is None:
                unchecked.append(Unchecked(r.typ, "*", "no API call mapped for this type"))
                continue
            v, u = check_inputs(r.typ, r.name, r.inputs, spec, names)
            violations += v
            unchecked += u
        return violations, unchecked


def check_inputs(typ: str, name: str, inputs: Mapping[str, Any], spec: TypeMap, names: RealNames | None = None,
                 ) -> tuple[list[Violation], list[Unchecked]]:
    """One resource's inputs against its calls' input shapes."""
    real = (names or RealNames({})).inputs(typ, name, inputs)
    if spec.adapt is not None:
        real = spec.adapt(real)
    violations: list[Violation] = []
    unchecked: list[Unchecked] = []
    taken: set[str] = set()
    for call in spec.calls:
        taken |= call.inputs or set()
    for call in spec.calls:
        mine = {k: v for k, v in real.items() if (k in call.inputs if call.inputs is not None else k not in taken)
                and k not in spec.provider_only}
        if call.inputs is not None and not mine:
            continue
        walk = _Walk(typ, name, _source(call))
        walk.structure(rename(mine, spec.renames), input_shape(call.service, call.operation), "", partial=call.partial,
                       provided=call.provided)
        violations += walk.violations
        unchecked += walk.unchecked
    unchecked += [Unchecked(typ, k, f"provider-only: {why}") for k, why in spec.provider_only.items() if k in real]
    return violations, unchecked


def _source(call: Call) -> str:
    return f"botocore {botocore.__version__} {call.service} {call.operation}"

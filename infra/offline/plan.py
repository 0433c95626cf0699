"""A human-readable plan of what a stack declares: every resource with its type, name, parent,
options and inputs, sorted, with embedded JSON documents pretty-printed.

Committed per stack under plans/, a pull request shows an infra change as a plain diff. Values that
depend on the machine rather than on the code (the build context's hash, the serialized dynamic
provider, secrets, the bundle's location) are replaced by descriptions, so the file is stable.
"""

# pyright: strict

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, cast

import yaml
from pulumi import FileAsset

from infra import clouds
from infra.offline.recording import DYNAMIC, Registration
from infra.offline.runner import Recording

MASKED: dict[tuple[str, str], str] = {  # every cloud's; a cloud adds its own (Cloud.masked)
    (DYNAMIC, "__provider"): "<infra.built_image.ImageBuildProvider, serialized with dill>",
    (DYNAMIC, "source_hash"): "<sha256 of the build context: container/ and model/ sources, build arguments>",
    (DYNAMIC, "base_image"): "<$MODELSTAGE_BASE_IMAGE, else python:3.11-slim-bookworm>",
    (DYNAMIC, "password"): "<secret: registry credential>",
}
DYNAMIC_PREFIX = "pulumi-python:dynamic"  # dynamic resources: pulumi-python:dynamic[/<module>]:<name>
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # pulumi's marker of a secret value on the wire
LARGE = 4000  # longer inline contents are summarized by size and digest


def _urn_label(urn: str) -> str:
    """`urn:pulumi:stack::project::a$b$type::name` -> `type name`."""
    parts = urn.split("::")
    return f"{parts[2].split('$')[-1]} {parts[3]}" if len(parts) >= 4 else urn


def _value(value: Any, replacements: dict[str, str]) -> Any:
    if isinstance(value, FileAsset):
        path = str(value.path)
        for old, new in replacements.items():
            path = path.replace(old, new)
        return f"file:{path}"
    if isinstance(value, dict) and SECRET_SIG in value:
        return "[secret]"  # as `pulumi preview` shows a secret input (pulumi-gcp marks object contents so)
    if isinstance(value, dict):
        mapping = cast(dict[Any, Any], value)
        return {str(k): _value(v, replacements) for k, v in sorted(mapping.items())}
    if isinstance(value, list | tuple):
        return [_value(v, replacements) for v in cast(list[Any], value)]
    if isinstance(value, str):
        if len(value) > LARGE:
            digest = hashlib.sha256(value.encode()).hexdigest()[:16]
            return f"<{len(value)} characters, sha256 {digest}...>"
        if value[:1] in "{[":
            try:
                return {"json": _value(json.loads(value), replacements)}
            except ValueError:
                pass
    return value


def _inputs(r: Registration, replacements: dict[str, str], masks: Mapping[tuple[str, str], str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in sorted(r.inputs.items()):
        masked = masks.get((r.typ, key))
        if masked is None and key == "__provider" and r.typ.startswith(DYNAMIC_PREFIX):
            masked = "<the resource's dynamic provider, serialized with dill>"
        out[key] = masked if masked is not None else _value(value, replacements)
    return out


def _resource(r: Registration, replacements: dict[str, str], masks: Mapping[tuple[str, str], str]) -> str:
    lines = [f"{r.typ} {r.name}"]
    if r.parent:
        lines.append(f"  parent: {_urn_label(r.parent)}")
    if r.provider:
        lines.append(f"  provider: {_urn_label(r.provider.rsplit('::', 1)[0])}")
    options = [name for name, on in (("protect", r.protect), ("retain_on_delete", r.retain_on_delete)) if on]
    if options:
        lines.append(f"  options: {', '.join(options)}")
    inputs = _inputs(r, replacements, masks)
    if inputs:
        body = yaml.safe_dump(inputs, sort_keys=True, default_flow_style=False, width=110, allow_unicode=True)
        lines.append("  inputs:")
        lines += [f"    {line}" for line in body.rstrip("\n").split("\n")]
    return "\n".join(lines)


def render(recording: Recording, replacements: dict[str, str] | None = None) -> str:
    reps = replacements or {}
    masks = {**MASKED, **(clouds.get(recording.cloud).masked if recording.cloud in clouds.names() else {})}
    resources = sorted(recording.resources, key=lambda r: (r.urn.split("::")[2].split("$")[-1], r.name))
    head = [
        f"# Plan of stack {recording.stack}: what the program declares, rendered offline under mocks.",
        f"# {len(resources)} resources. Regenerate: python -m infra.plan {recording.stack} --write",
        "",
        "outputs:",
        *(f"  {k}: {_value(v, reps)}" for k, v in sorted(recording.outputs.items())),
        "",
    ]
    return "\n".join(head) + "\n" + "\n\n".join(_resource(r, reps, masks) for r in resources) + "\n"

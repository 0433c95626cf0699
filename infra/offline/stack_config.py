"""A stack's configuration as the Pulumi CLI would pass it, without the CLI.

The CLI merges Pulumi.yaml's project config (defaults and plain values) with the stack file
(stack wins), checks stack values against the typed project schema, and hands the program strings.
`load_stack_config` does the merge; `schema_errors` re-implements the type check.
"""

# pyright: strict

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import yaml

from infra.errors import SpecError

TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "boolean": (bool,), "array": (list,)}


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot be read as YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a YAML mapping")
    return cast(dict[str, Any], data)


def _mapping(value: Any) -> dict[str, Any]:
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def _qualify(key: str, project: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def project_file(root: Path) -> dict[str, Any]:
    return read_yaml(root / "Pulumi.yaml")


def stack_file(root: Path, stack: str) -> Path:
    project = project_file(root)
    return root / str(project.get("stackConfigDir", ".")) / f"Pulumi.{stack}.yaml"


def stack_names(root: Path) -> list[str]:
    directory = stack_file(root, "x").parent
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in directory.glob("Pulumi.*.yaml"))


def _stack_values(root: Path, stack: str) -> dict[str, Any]:
    path = stack_file(root, stack)
    if not path.is_file():
        raise SpecError(f"no stack file {path} (stacks: {', '.join(stack_names(root)) or 'none'})")
    return _mapping(read_yaml(path).get("config"))


def _as_cli_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def load_stack_config(root: Path, stack: str) -> dict[str, str]:
    """Namespaced key -> string value, as `pulumi up` passes them to the program."""
    project = project_file(root)
    name = str(project["name"])
    merged: dict[str, Any] = {}
    for key, decl in _mapping(project.get("config")).items():
        if isinstance(decl, dict) and "type" in decl:
            if "default" in decl:
                merged[_qualify(str(key), name)] = decl["default"]
        elif isinstance(decl, dict) and "value" in decl:
            merged[_qualify(str(key), name)] = decl["value"]
        else:
            merged[_qualify(str(key), name)] = decl
    for key, value in _stack_values(root, stack).items():
        merged[_qualify(str(key), name)] = value
    return {k: _as_cli_string(v) for k, v in merged.items()}


def schema_errors(root: Path, stack: str) -> list[str]:
    """What `pulumi preview` would reject: wrongly typed or missing values of typed project keys."""
    project = project_file(root)
    name = str(project["name"])
    schema = {_qualify(str(k), name): _mapping(d) for k, d in _mapping(project.get("config")).items()
              if isinstance(d, dict) and "type" in d}
    values = {_qualify(str(k), name): v for k, v in _stack_values(root, stack).items()}
    errors: list[str] = []
    for key, decl in sorted(schema.items()):
        if key not in values:
            if "default" not in decl:
                errors.append(f"{key}: required (Pulumi.yaml gives no default) but the stack does not set it")
            continue
        value = values[key]
        expected = TYPES.get(str(decl["type"]), ())
        if not isinstance(value, expected) or (decl["type"] == "integer" and isinstance(value, bool)):
            errors.append(f"{key}: expected {decl['type']}, got {type(value).__name__} {value!r}")
    for key in sorted(values):
        if key.startswith(f"{name}:") and key not in schema:
            errors.append(f"{key}: not declared in Pulumi.yaml")
    return errors

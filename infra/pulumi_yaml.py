"""`python -m infra.pulumi_yaml [--write | --check]`: Pulumi.yaml's typed `config:` block, generated
from the key tables (the shared keys, then each registered cloud's), so the CLI's type check and
defaults can never drift from what the spec reads. Everything above `config:` is kept as written.
"""

# pyright: strict

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from infra import clouds
from infra.bundle_input import project_root
from infra.spec_keys import KEYS, Key, Value

MARKER = "config:\n"
HEADER = ("  # Generated from infra/spec_keys.py and each cloud's keys (python -m infra.pulumi_yaml --write): the CLI\n"
          "  # checks the types and applies the defaults; infra/spec.py checks values and contradictions.\n")


def _scalar(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int) else json.dumps(value)


def _key(key: Key) -> str:
    description = key.description
    if key.name == "cloud":  # the registry's names, so a reader of Pulumi.yaml sees the choices
        description = f"{description.rstrip('.')}: {', '.join(clouds.names())}."
    lines = [f"  {key.name}:", f"    type: {key.type}", f"    description: {json.dumps(description)}"]
    if key.default is not None:
        lines.append(f"    default: {_scalar(key.default)}")
    return "\n".join(lines) + "\n"


def every_key() -> list[Key]:
    return [*KEYS, *(k for cloud in clouds.every() for k in cloud.keys)]


def render(current: str) -> str:
    """`current` (Pulumi.yaml's text) with its config block replaced by the generated one."""
    head, found, _ = current.partition("\n" + MARKER)
    if not found:
        raise SystemExit("Pulumi.yaml has no top-level `config:` block to replace")
    return head + "\n" + MARKER + HEADER + "".join(_key(k) for k in every_key())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.pulumi_yaml", description=(__doc__ or "").split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite Pulumi.yaml's config block")
    mode.add_argument("--check", action="store_true", help="exit 1 when Pulumi.yaml's config block is stale")
    args = parser.parse_args(argv)
    path: Path = project_root() / "Pulumi.yaml"
    current = path.read_text()
    text = render(current)
    if args.write:
        path.write_text(text)
        print(f"wrote {path}")
    elif args.check and text != current:
        print(f"{path} is stale: run python -m infra.pulumi_yaml --write", file=sys.stderr)
        return 1
    elif not args.check:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

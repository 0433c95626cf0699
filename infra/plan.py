"""`python -m infra.plan STACK [--bundle DIR] [--write | --check]`: the stack's offline plan.

Runs the real program under mocks with the stack's config (Pulumi.yaml defaults + the stack file,
as the CLI merges them) and prints plans/<STACK>.txt's content. Without --bundle it packages the
example model with fixed inputs, which is reproducible, so the plan only changes when the code,
the stack file or the example model does.
"""

# pyright: strict

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pulumi

from infra.bundle_input import project_root
from infra.offline.plan import render
from infra.offline.runner import run_program
from infra.offline.stack_config import load_stack_config, schema_errors, stack_names
from model.errors import ModelstageError


def plan_path(root: Path, stack: str) -> Path:
    return root / "plans" / f"{stack}.txt"


def plan_text(root: Path, stack: str, bundle_dir: Path) -> str:
    errors = schema_errors(root, stack)
    if errors:
        raise ModelstageError(f"stack {stack}: " + "; ".join(errors))
    config = load_stack_config(root, stack)
    configured = config.get("modelstage:bundlePath", "out/bundle")
    config["modelstage:bundlePath"] = str(bundle_dir)
    recording = run_program(config, stack=stack)
    return render(recording, {str(bundle_dir): configured})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.plan", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("stack", help="stack name, e.g. aws-dev (stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--bundle", type=Path, help="bundle directory (default: package the example model)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write plans/<stack>.txt")
    mode.add_argument("--check", action="store_true", help="exit 1 when plans/<stack>.txt is stale")
    args = parser.parse_args(argv)
    root = project_root()
    if args.stack not in stack_names(root):
        parser.error(f"unknown stack {args.stack!r}; expected one of {', '.join(stack_names(root))}")
    try:
        if args.bundle is not None:
            text = plan_text(root, args.stack, args.bundle.resolve())
        else:
            from model.package import package_example

            with tempfile.TemporaryDirectory(prefix="modelstage-plan-") as tmp:
                bundle = package_example(Path(tmp) / "bundle")
                text = plan_text(root, args.stack, bundle.path)
    except (ModelstageError, pulumi.RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    target = plan_path(root, args.stack)
    if args.write:
        target.parent.mkdir(exist_ok=True)
        target.write_text(text)
        print(f"wrote {target}")
    elif args.check:
        if not target.is_file() or target.read_text() != text:
            print(f"{target} is stale: run python -m infra.plan {args.stack} --write", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

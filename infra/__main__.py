"""Entry point of the Pulumi program (Pulumi.yaml: `main: infra/`). Everything happens in infra.program."""

# pyright: strict

import sys
from pathlib import Path

import pulumi

# The CLI puts infra/ first on sys.path, where infra/aws/ would shadow any top-level package named
# `aws` (and a future infra/azure/ the `azure` namespace packages). The program imports itself as
# `infra.*` from the installed project, so that entry is not needed.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from infra.program import run  # noqa: E402
from model.errors import ModelstageError  # noqa: E402

try:
    run()
except ModelstageError as exc:  # a clear message, not a traceback
    raise pulumi.RunError(str(exc)) from None

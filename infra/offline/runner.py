"""Run the real program (infra/__main__.py) under mocks, as the CLI would run it, and record it.

Each run gets a fresh event loop and a fresh root stack (`reset_options` before `set_mocks`), the
config in the SDK's config context (as the CLI passes it: strings), and restores all of it after.
"""

# pyright: strict, reportUnknownMemberType=false
# (pulumi.runtime.test is untyped)

from __future__ import annotations

import asyncio
import runpy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.stack import Stack

from infra import clouds
from infra.offline.recording import RecordingMocks, RecordingMonitor, Registration

PROJECT = "modelstage"
PROGRAM = Path(__file__).resolve().parents[1] / "__main__.py"


@dataclass
class Recording:
    stack: str
    cloud: str  # the stack's modelstage:cloud
    resources: list[Registration]
    outputs: dict[str, Any]
    calls: list[str]

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name: str | None = None) -> Registration:
        found = [r for r in self.of_type(typ) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(typ)]
            raise AssertionError(f"expected one {typ}{' named ' + name if name else ''}, found {names}")
        return found[0]


def _run(fn: Any) -> None:
    """Run `fn` under the mocks and wait for every registration. An exception `fn` raises is re-raised
    as is: the SDK would otherwise report a follow-on error from the registrations it left behind."""
    raised: list[BaseException] = []

    def program() -> None:  # must return None: pulumi.runtime.test lifts the return value into an Output
        try:
            fn()
        except BaseException as exc:
            raised.append(exc)

    try:
        pulumi.runtime.test(program)()
    except BaseException:
        if not raised:
            raise
    if raised:
        raise raised[0]


def run_program(config: Mapping[str, str], *, stack: str, program: Path = PROGRAM, preview: bool = False,
                ) -> Recording:
    """Run `program` with `config` (namespaced keys, string values) and return what it registered;
    preview=True runs it as `pulumi preview` does.

    Raises what the program raises (a pulumi.RunError for a bad spec or bundle)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    name = config.get(f"{PROJECT}:cloud", "")
    mocks = RecordingMocks(config.get(f"{PROJECT}:region", ""), clouds.get(name) if name in clouds.names() else None)
    monitor = RecordingMonitor(mocks)
    try:
        pulumi.runtime.reset_options()  # a new root stack; the last one's futures live on a closed loop
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
        pulumi.runtime.set_all_config(dict(config))
        _run(lambda: runpy.run_path(str(program), run_name="__main__"))
        outputs: dict[str, Any] = {}
        root = pulumi.runtime.get_root_resource()
        if isinstance(root, Stack):
            _run(lambda: pulumi.Output.all(**root.outputs).apply(outputs.update))
        return Recording(stack=stack, cloud=name, resources=list(monitor.registrations), outputs=outputs,
                         calls=mocks.calls)
    finally:
        pulumi.runtime.set_all_config({})
        pulumi.runtime.reset_options()
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)

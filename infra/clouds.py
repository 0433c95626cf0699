"""The one registry of cloud packages, and the interface each implements.

The core (the spec, the program, `modelstage smoke`, the offline runner and the plan renderer) looks
a cloud up here by the stack's `modelstage:cloud` and holds no cloud names of its own. A cloud
package exposes `CLOUD` from its `cloud` module: importing that module must stay cheap (no provider
SDK), so the heavy imports happen inside `deploy` and `invoker`.
"""

# pyright: strict

from __future__ import annotations

import importlib
from collections.abc import Callable, Generator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from infra.config_reader import ConfigReader
    from infra.offline.constraints import ConstraintCheck
    from infra.outputs import StackOutputs
    from infra.spec import DeploymentSpec
    from infra.spec_keys import Key, Value
    from model.bundle import Bundle

S = TypeVar("S")

# modelstage:cloud value -> the module that defines CLOUD. Adding a cloud adds one line here.
PACKAGES: dict[str, str] = {"aws": "infra.aws.cloud", "gcp": "infra.gcp.cloud"}
_registered: dict[str, Cloud[Any]] = {}  # clouds added at run time (tests)


class Cloud(Protocol[S]):
    """What a cloud package gives the core. `S` is its own spec section (e.g. AwsSpec)."""

    @property
    def name(self) -> str:
        """The `modelstage:cloud` value, and the prefix of every key of its own (`aws` -> `awsAlarmEmail`)."""
        ...

    @property
    def keys(self) -> tuple[Key, ...]:
        """Its own stack keys, each named `<name><Capitalised>`."""
        ...

    @property
    def defaults(self) -> Mapping[str, Value]:
        """Its values for the shared keys whose default is empty (instanceType, batchInstanceType)."""
        ...

    @property
    def name_max(self) -> int:
        """The longest deployment name whose derived resource names all fit the cloud's limits."""
        ...

    @property
    def masked(self) -> Mapping[tuple[str, str], str]:
        """(resource type, input) -> a description shown in plans instead of a machine-dependent value."""
        ...

    def parse_section(self, r: ConfigReader, spec: DeploymentSpec[None]) -> S:
        """Read its own keys and check its forms of the shared values (instance types, schedules,
        retention values, rollout limits) through `r`, which collects every problem."""
        ...

    def deploy(self, name: str, spec: DeploymentSpec[S], bundle: Bundle) -> StackOutputs:
        """Declare every resource of the deployment (inside `pulumi up`) and return the common outputs."""
        ...

    def invoker(self, outputs: Mapping[str, Any], *, output_name: str, timeout_s: float,
                endpoint_url: str | None) -> Callable[[bytes], bytes]:
        """A client of the live endpoint the stack outputs name: the bundle's sample request in
        (`{"input": row}`), the answer out as `{"<output_name>": number}`, each call bounded by
        `timeout_s`. A cloud whose predict API has its own envelope wraps the request and unwraps a
        single prediction; anything else is passed on as received, for the check to name. A call
        raises SmokeFailed when the endpoint refuses or does not answer. `endpoint_url` points the
        cloud's API elsewhere (tests, private endpoints)."""
        ...

    def mock_resource(self, typ: str, name: str, inputs: Mapping[str, Any], region: str
                      ) -> tuple[str | None, dict[str, Any]] | None:
        """The id (None: any) and state the cloud would give a new resource of one of its types, inputs
        included; None: not its type."""
        ...

    def mock_call(self, token: str, args: Mapping[str, Any], region: str) -> dict[str, Any] | None:
        """The result of one of its provider functions under mocks; None: not its function."""
        ...

    def constraint_checks(self, region: str) -> list[ConstraintCheck]:
        """Its published constraints (API models, resource schemas, action catalogues) that recorded
        inputs are checked against offline, so a value the cloud would refuse fails a test, not a
        `pulumi up`. May need the `dev` extra."""
        ...


def names() -> tuple[str, ...]:
    return (*PACKAGES, *(n for n in _registered if n not in PACKAGES))


def get(name: str) -> Cloud[Any]:
    """The cloud package for a `modelstage:cloud` value; KeyError for an unknown one."""
    if name in _registered:
        return _registered[name]
    module = importlib.import_module(PACKAGES[name])
    cloud: Cloud[Any] = module.CLOUD
    return cloud


def every() -> list[Cloud[Any]]:
    return [get(n) for n in names()]


@contextmanager
def registered(cloud: Cloud[Any]) -> Generator[None]:
    """Make `cloud` known for the duration of a `with` block (tests of the core with a fake cloud)."""
    _registered[cloud.name] = cloud
    try:
        yield
    finally:
        _registered.pop(cloud.name, None)

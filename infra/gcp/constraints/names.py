"""Names as pulumi-gcp makes them, in place of the mocks' names, before any length or pattern check.

Pulumi auto-naming: a resource whose name input is absent is named `<logical name>-<7 random
characters>` (lowercase letters and digits). The mocks (infra/gcp/offline.py) append "-0000000"
instead: as long, but `real_names` puts a name of the real form into the resource's own name input
and replaces the mock name wherever another recorded input quotes it (an IAM condition, a gs:// URI).
"""

# pyright: strict

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from infra.gcp.offline import SUFFIX as MOCK_SUFFIX

if TYPE_CHECKING:
    from infra.offline.recording import Registration

AUTO_SUFFIX = "abc1234"  # 7 characters after a "-", as Pulumi's auto-naming appends them

# type -> the input that holds the name pulumi-gcp auto-names (only the types the program lets it name)
AUTO_NAMED: Mapping[str, str] = {
    "gcp:storage/bucket:Bucket": "name",
}

__all__ = ["AUTO_SUFFIX", "MOCK_SUFFIX", "RealNames", "real_names"]


def real_name(typ: str, logical: str, inputs: Mapping[str, Any]) -> tuple[str, str] | None:
    key = AUTO_NAMED.get(typ)
    if key is None or inputs.get(key):
        return None
    return f"{logical}-{MOCK_SUFFIX}", f"{logical}-{AUTO_SUFFIX}"


@dataclass(frozen=True)
class RealNames:
    by_mock: Mapping[str, str]

    def inputs(self, typ: str, logical: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {k: self.replace(v) for k, v in inputs.items()}
        named = real_name(typ, logical, inputs)
        if named is not None:
            out[AUTO_NAMED[typ]] = named[1]
        return out

    def replace(self, value: Any) -> Any:
        if isinstance(value, str):
            for mock in sorted(self.by_mock, key=len, reverse=True):
                value = value.replace(mock, self.by_mock[mock])
            return value
        if isinstance(value, dict):
            return {k: self.replace(v) for k, v in cast(dict[str, Any], value).items()}
        if isinstance(value, list):
            return [self.replace(v) for v in cast(list[Any], value)]
        return value


def real_names(resources: Sequence[Registration]) -> RealNames:
    found: dict[str, str] = {}
    for r in resources:
        named = real_name(r.typ, r.name, r.inputs)
        if named is not None:
            found[named[0]] = named[1]
    return RealNames(found)

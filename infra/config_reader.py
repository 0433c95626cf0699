"""Typed access to raw stack config values, shared by the core spec and every cloud's section.

A reader records every problem (`modelstage:<key>: <what is wrong; what is allowed>`) instead of
stopping at the first, so a stack file's mistakes are reported together. Defaults come from the key
tables; once the cloud is known, its defaults for the shared keys it fills in (an empty instance
type, say) take the place of the empty string.
"""

# pyright: strict

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TypeVar, cast

from infra.spec_keys import Key, Value, qualified

T = TypeVar("T")


class ConfigReader:
    def __init__(self, values: Mapping[str, object], keys: Mapping[str, Key]) -> None:
        self.values = values
        self.keys = keys
        self.cloud_defaults: Mapping[str, Value] = {}
        self.problems: list[str] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"{qualified(key)}: {message}")

    def raw(self, key: str) -> object:
        value = self.values.get(key)
        if (value is None or value == "") and key in self.cloud_defaults:
            return self.cloud_defaults[key]
        return self.keys[key].default if value is None else value

    def string(self, key: str) -> str:
        value = self.raw(key)
        if value is None:
            self.fail(key, "required but not set (pulumi config set " + qualified(key) + " VALUE)")
            return ""
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {value!r}")
            return ""
        return value.strip()

    def optional(self, key: str) -> str | None:
        return self.string(key) or None

    def integer(self, key: str, lo: int, hi: int | float = math.inf) -> int:
        value = self.raw(key)
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(key, f"expected a whole number, got {value!r}")
            return lo
        if not lo <= value <= hi:
            bound = f"at least {lo}" if hi == math.inf else f"between {lo} and {int(hi)}"
            self.fail(key, f"{value} is out of range; expected {bound}")
            return lo
        return value

    def boolean(self, key: str) -> bool:
        value = self.raw(key)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {value!r}")
            return False
        return value

    def choice(self, key: str, allowed: Sequence[T]) -> T:
        value = self.string(key)
        if value not in cast(Sequence[object], allowed):
            if value or self.raw(key) is not None:
                self.fail(key, f"{value!r} is not allowed; expected one of {', '.join(map(str, allowed))}")
            return allowed[0]
        return cast(T, value)

    def check(self, key: str, ok: bool, message: str) -> None:
        if not ok:
            self.fail(key, message)

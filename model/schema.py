"""The input/output schema recorded in a bundle, and turning request rows into a model matrix.

A row is either a list of numbers given by position (the first features in schema order; the rest
are filled from each feature's documented default) or an object keyed by feature name (missing
names are filled from defaults too; unknown names are refused). `None` means "missing" and is
allowed only for features whose NaN policy is "impute".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

import numpy as np

from model.envelope import describe
from model.errors import SchemaError

NanPolicy = Literal["reject", "impute"]
Dtype = Literal["float", "integer"]
_NUMBER_TYPES = {int, float, type(None)}  # what JSON numbers and null decode to
_NONE = object()  # "no unknown key" (None could be a key of a dict built in Python)


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: Dtype
    minimum: float
    maximum: float
    default: float
    nan_policy: NanPolicy = "reject"
    unit: str = ""
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Feature:
        return Feature(
            name=str(d["name"]), dtype=d["dtype"], minimum=float(d["minimum"]), maximum=float(d["maximum"]),
            default=float(d["default"]), nan_policy=d.get("nan_policy", "reject"),
            unit=str(d.get("unit", "")), description=str(d.get("description", "")),
        )


@dataclass(frozen=True)
class Output:
    name: str
    unit: str
    description: str = ""


@dataclass(frozen=True)
class Schema:
    features: tuple[Feature, ...]
    output: Output
    max_rows: int = 10_000

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": [f.to_dict() for f in self.features],
            "output": asdict(self.output),
            "max_rows": self.max_rows,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Schema:
        return Schema(
            features=tuple(Feature.from_dict(f) for f in d["features"]),
            output=Output(**d["output"]),
            max_rows=int(d.get("max_rows", 10_000)),
        )


def wrong_feature_count(r: int, got: int, names: Sequence[str]) -> SchemaError:
    """The error for a positional row of the wrong length (raised by the encoder and the CSV reader)."""
    return SchemaError(
        f"row {r}: got {got} values, expected between 1 and {len(names)} (features in order: {', '.join(names)})",
        row=r, code="wrong_feature_count", expected=f"1 to {len(names)} values in schema order",
    )


class RowEncoder:
    """Validates rows against a schema and writes them into a float matrix.

    Built once per loaded bundle; `encode` is on the hot path of every request, so it avoids
    numpy calls per cell and keeps per-feature facts in flat tuples.
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._names = schema.names
        self.names = self._names  # read on every request: built once here, not per call
        self._index = {name: i for i, name in enumerate(self._names)}
        self._defaults = tuple(f.default for f in schema.features)
        self._n = len(schema.features)
        self.max_rows = schema.max_rows  # a server may lower it (MODELSTAGE_MAX_ROWS)
        features = schema.features
        # Per-feature facts as arrays, for whole-matrix checks (here and in model/batch.py); read-only.
        self.minimums = np.array([f.minimum for f in features])
        self.maximums = np.array([f.maximum for f in features])
        self.imputable = np.array([f.nan_policy == "impute" for f in features])
        self.integer = np.array([f.dtype == "integer" for f in features])
        for facts in (self.minimums, self.maximums, self.imputable, self.integer):
            facts.flags.writeable = False

    def encode(self, rows: Sequence[object]) -> np.ndarray:
        if not isinstance(rows, list | tuple):
            raise SchemaError(f"expected a list of rows, got {describe(rows)}", expected="a JSON array of rows")
        if len(rows) == 0:
            raise SchemaError("the request has no rows", code="empty_batch", expected="at least one row")
        if len(rows) > self.max_rows:
            raise SchemaError(
                f"the request has {len(rows)} rows; at most {self.max_rows} are accepted per call",
                code="too_many_rows", expected=f"at most {self.max_rows} rows (use batch scoring)",
            )
        if len(rows) > 1:
            matrix = self._encode_full_rows(rows)
            if matrix is not None:
                return matrix
        out = np.empty((len(rows), self._n), dtype=np.float64)
        for r, row in enumerate(rows):
            out[r] = self.encode_row(r, row)
        return out

    def _encode_full_rows(self, rows: Sequence[object]) -> np.ndarray | None:
        """Batches of complete positional rows, checked with whole-matrix operations (several times
        faster than cell by cell). None when any check fails: the row-by-row path then names the
        first bad row and field, so every error message comes from one place."""
        n = self._n
        if not all(type(row) is list and len(row) == n for row in rows):
            return None
        lists = cast("Sequence[list[object]]", rows)
        if not {type(v) for row in lists for v in row} <= _NUMBER_TYPES:  # no bools, strings, nesting
            return None
        try:
            X = np.array(rows, dtype=np.float64)  # None becomes NaN
        except (TypeError, ValueError, OverflowError):
            return None
        missing = np.isnan(X)
        if (missing & ~self.imputable).any():
            return None
        in_range = np.greater_equal(X, self.minimums) & np.less_equal(X, self.maximums)  # False for NaN: allowed above
        if not (in_range | missing).all():
            return None
        whole = X[:, self.integer]
        if whole.size and not ((whole == np.floor(whole)) | np.isnan(whole)).all():
            return None
        return X

    def encode_row(self, r: int, row: object) -> list[float]:
        """One row (values by position, or a mapping of feature names) as floats, defaults filled in;
        a SchemaError names row `r` and the field. The one place a row's error message is made."""
        if isinstance(row, Mapping):
            unknown = next((k for k in row if k not in self._index), _NONE)
            if unknown is not _NONE:
                name = str(unknown)[:100]  # a key can be megabytes long: quote a bounded part
                raise SchemaError(
                    f"row {r}: unknown feature {describe(name)}", row=r, field=name,
                    code="unknown_feature", expected=f"feature names among {list(self._names)}",
                )
            values = list(self._defaults)
            for name, value in row.items():
                i = self._index[name]
                values[i] = self._check(r, i, value)
            return values
        if isinstance(row, list | tuple):
            if not 1 <= len(row) <= self._n:
                raise wrong_feature_count(r, len(row), self._names)
            values = list(self._defaults)
            for i, value in enumerate(row):
                values[i] = self._check(r, i, value)
            return values
        raise SchemaError(
            f"row {r}: expected a list of values or an object keyed by feature name, got {describe(row)}",
            row=r, expected="a JSON array or object",
        )

    def _check(self, r: int, i: int, value: object) -> float:
        f = self.schema.features[i]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            if f.nan_policy == "impute":
                return math.nan
            raise SchemaError(
                f"row {r}, field {f.name!r}: a value is required (this feature does not accept missing values)",
                row=r, field=f.name, code="missing_value", expected=f"a number in [{f.minimum:g}, {f.maximum:g}]",
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SchemaError(
                f"row {r}, field {f.name!r}: expected a number, got {describe(value)}",
                row=r, field=f.name, code="not_a_number", expected=f"a number in [{f.minimum:g}, {f.maximum:g}]",
            )
        try:
            x = float(value)
        except OverflowError:  # an int beyond float range: out of range by definition
            x = math.inf if value > 0 else -math.inf
        if not f.minimum <= x <= f.maximum:  # also refuses +-inf
            raise SchemaError(
                f"row {r}, field {f.name!r}: {x:g} is outside the allowed range [{f.minimum:g}, {f.maximum:g}]",
                row=r, field=f.name, code="out_of_range", expected=f"a number in [{f.minimum:g}, {f.maximum:g}]",
            )
        if f.dtype == "integer" and not x.is_integer():
            raise SchemaError(
                f"row {r}, field {f.name!r}: expected a whole number, got {x:g}",
                row=r, field=f.name, code="not_an_integer", expected="a whole number",
            )
        return x

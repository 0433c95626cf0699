"""Turning request rows into a model matrix, and every way a row can be wrong."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.bundle import Bundle
from model.errors import SchemaError
from model.schema import Feature, RowEncoder


@pytest.fixture(scope="module")
def encoder(bundle: Bundle) -> RowEncoder:
    return RowEncoder(bundle.schema)


def test_positional_prefix_is_filled_from_defaults(encoder: RowEncoder) -> None:
    X = encoder.encode([[1200, 3, 2]])
    defaults = [f.default for f in encoder.schema.features]
    assert X.shape == (1, len(defaults))
    assert list(X[0]) == [1200, 3, 2, *defaults[3:]]


def test_rows_by_name_and_missing_values(encoder: RowEncoder) -> None:
    X = encoder.encode([{"bedrooms": 4, "living_area_sqft": 2500, "lot_size_sqft": None}])
    names = encoder.schema.names
    assert X[0, names.index("bedrooms")] == 4 and X[0, names.index("living_area_sqft")] == 2500
    assert math.isnan(X[0, names.index("lot_size_sqft")])


@pytest.mark.parametrize(("rows", "code", "row", "field"), [
    ([], "empty_batch", None, None),
    ("abc", "invalid_input", None, None),
    ([[1200, 3, 2], [1200, "three", 2]], "not_a_number", 1, "bedrooms"),
    ([[1200, True, 2]], "not_a_number", 0, "bedrooms"),
    ([[None, 3, 2]], "missing_value", 0, "living_area_sqft"),
    ([[float("nan"), 3, 2]], "missing_value", 0, "living_area_sqft"),
    ([[1200, 3, 2, 1, 2, 3, 4, 5, 6, 7]], "wrong_feature_count", 0, None),
    ([[]], "wrong_feature_count", 0, None),
    ([{"rooms": 3}], "unknown_feature", 0, "rooms"),
    ([[1e9, 3, 2]], "out_of_range", 0, "living_area_sqft"),
    ([[float("inf"), 3, 2]], "out_of_range", 0, "living_area_sqft"),
    ([[1200, 2.5, 2]], "not_an_integer", 0, "bedrooms"),
    ([42], "invalid_input", 0, None),
])
def test_bad_rows_name_the_row_and_field(encoder: RowEncoder, rows: object, code: str, row: int | None,
                                         field: str | None) -> None:
    with pytest.raises(SchemaError) as info:
        encoder.encode(rows)  # type: ignore[arg-type]
    err = info.value
    assert (err.code, err.row, err.field) == (code, row, field)
    assert err.expected
    if field:
        assert field in err.message


def test_too_many_rows(encoder: RowEncoder) -> None:
    with pytest.raises(SchemaError) as info:
        encoder.encode([[1200, 3, 2]] * (encoder.max_rows + 1))
    assert info.value.code == "too_many_rows"


_BAD_CELLS = st.sampled_from([None, True, "3", float("inf"), float("nan"), [1.0], -1e9, 1e12, 2.5])


@st.composite
def _batches(draw: st.DrawFn, features: Sequence[Feature]) -> list[list[object]]:
    """Valid rows of a schema; often one bad cell, sometimes a short or long row."""
    rows: list[list[object]] = []
    for _ in range(draw(st.integers(2, 6))):
        rows.append([draw(st.integers(int(f.minimum), int(f.maximum))) if f.dtype == "integer"
                     else draw(st.floats(f.minimum, f.maximum)) for f in features])
    if draw(st.integers(0, 9)) < 6:
        r, i = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, len(features) - 1))
        rows[r][i] = draw(_BAD_CELLS)
    if draw(st.integers(0, 9)) == 0:
        r = draw(st.integers(0, len(rows) - 1))
        rows[r] = [*rows[r], 1.0] if draw(st.booleans()) else rows[r][:-1]
    return rows


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_whole_batches_and_single_rows_agree(encoder: RowEncoder, data: st.DataObject) -> None:
    """A batch is checked with matrix operations; row by row it takes the cell-by-cell path. Both must
    accept the same rows with the same values and refuse the same ones for the same reason."""
    rows = data.draw(_batches(encoder.schema.features))
    singles: list[np.ndarray] = []
    first_error: SchemaError | None = None
    for row in rows:
        try:
            singles.append(encoder.encode([row]))
        except SchemaError as exc:
            first_error = exc
            break
    if first_error is not None:
        with pytest.raises(SchemaError) as err:
            encoder.encode(rows)
        assert err.value.code == first_error.code
    else:
        np.testing.assert_array_equal(encoder.encode(rows), np.vstack(singles))


def test_a_batch_of_valid_full_rows_is_encoded_as_given(encoder: RowEncoder) -> None:
    row = [1500.0, 3, 2, 6000.0, None, 1, 3, 12.5]
    X = encoder.encode([row, row])
    assert X.shape == (2, 8) and np.isnan(X[0, 4]) and X[1, 0] == 1500.0

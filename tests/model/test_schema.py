"""Turning request rows into a model matrix, and every way a row can be wrong."""

from __future__ import annotations

import math

import pytest

from model.bundle import Bundle
from model.errors import SchemaError
from model.schema import RowEncoder


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

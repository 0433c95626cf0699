"""The Model Monitor record preprocessor reads a captured request by the runtime's own envelope rules."""

from __future__ import annotations

import ast
import inspect
import json
from types import SimpleNamespace
from typing import Any

import pytest

from container.runtime.contracts import parse
from container.runtime.errors import RequestError
from infra.aws.monitor_baseline import preprocessor
from model import envelope
from model.bundle import Bundle
from tests.container.bodies import requests


@pytest.fixture(scope="module")
def handler(bundle: Bundle) -> Any:
    namespace: dict[str, Any] = {}
    exec(preprocessor(bundle), namespace)  # the generated script, as Model Monitor runs it
    return namespace["preprocess_handler"]


def _record(data: str, encoding: str = "JSON") -> Any:
    return SimpleNamespace(endpoint_input=SimpleNamespace(data=data, encoding=encoding))


def test_the_script_embeds_model_envelope_verbatim_and_parses_as_old_python(bundle: Bundle) -> None:
    script = preprocessor(bundle)
    future = "from __future__ import annotations\n"
    source = inspect.getsource(envelope)
    assert source.count(future) == 1 and source.replace(future, "").strip("\n") in script
    assert script.index("from __future__ import annotations") < script.index("import json")
    ast.parse(script, feature_version=(3, 7))  # Model Monitor's Python may be older than ours
    assert preprocessor(bundle) == script  # the same bundle gives the same bytes: no diff in the stack


def _named(row: object, bundle: Bundle) -> dict[str, object]:
    defaults = {f.name: f.default for f in bundle.schema.features}
    if isinstance(row, dict):
        return {name: row.get(name, default) for name, default in defaults.items()}
    assert isinstance(row, list)
    return {**defaults, **dict(zip(defaults, row, strict=False))}


def _numbers(records: list[dict[str, object]]) -> list[dict[str, object]]:
    """Integers as floats: orjson reads an integer past 64 bits as a float, json as an int."""
    return [{k: float(v) if type(v) is int else v for k, v in r.items()} for r in records]


def test_every_captured_body_means_what_it_meant_to_the_endpoint(bundle: Bundle, handler: Any) -> None:
    """Fuzzed bodies: the records are the rows the runtime parsed, or none when it refused the body."""
    names = bundle.schema.names
    compared = refused = 0
    for body, _, _ in requests(7, 3000):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            continue  # data capture stores text; a non-UTF-8 body never reaches the preprocessor
        csv = body[:1].isdigit() and b"{" not in body
        ctype = "text/csv" if csv else "application/json"
        try:
            rows = parse("predict", names, body, ctype, None, "application/json").rows
        except RequestError:
            rows = None
        records = handler(_record(text, "CSV" if csv else "JSON"))
        if rows is None or not all(isinstance(r, list | dict) for r in rows):
            refused += rows is None
            if not csv:  # CSV cells the runtime refuses (quotes, 'abc') the preprocessor cannot read either
                assert records == [], body[:200]
            continue
        if any(isinstance(r, list) and len(r) > len(names) for r in rows):
            continue  # the encoder refuses these rows later; the preprocessor does not check the schema
        assert _numbers(records) == _numbers([_named(r, bundle) for r in rows]), body[:200]
        compared += 1
    assert compared > 300 and refused > 300, (compared, refused)


@pytest.mark.parametrize("data", [
    '{"hello": 1}', '"just a string"', '{"input": "abc"}', "[" * 5000 + "]" * 5000, "{not json", '{"instances": [3]}',
])
def test_a_body_the_endpoint_refused_gives_no_records(handler: Any, data: str) -> None:
    assert handler(_record(data)) == []


def test_a_csv_header_maps_columns_by_name_as_the_runtime_does(bundle: Bundle, handler: Any) -> None:
    records = handler(_record("bedrooms,living_area_sqft\n3,1200\n\n4,900\n", "CSV"))
    assert records == [_named({"bedrooms": 3.0, "living_area_sqft": 1200.0}, bundle),
                       _named({"bedrooms": 4.0, "living_area_sqft": 900.0}, bundle)]
    assert json.dumps(records)  # Model Monitor serialises them

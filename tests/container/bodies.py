"""A seeded generator of hostile request bodies, for the fuzz tests (no hypothesis: 10,000+ bodies
have to run in seconds, and a seed makes a failure reproducible by its index)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator

NAMES = ["living_area_sqft", "bedrooms", "bathrooms", "lot_size_sqft", "year_built", "garage_spaces",
         "condition", "distance_to_city_km"]
NUMBER_TOKENS = ["1e400", "-1e400", "-0", "-0.0", "0", "1200", "3", "2.5", "1e308", "-1e308", "5e-324",
                 "1" + "0" * 40, "-" + "9" * 30, "NaN", "Infinity", "-Infinity", "nan", "0x10", "01", "1.",
                 ".5", "+1", "1e", "--1", "1_000", "true", "false", "null", '"3"', '"abc"', '""', "[]", "{}"]
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/csv", "text/csv; header=present",
                 None, "", "text/plain", "application/x-www-form-urlencoded", "application/xml", "*/*",
                 "APPLICATION/JSON", "application/jsonl", "multipart/form-data; boundary=x", "text/csv;;;",
                 "x" * 5000, "application/json; charset=latin-1", "\x00"]
ACCEPTS = [None, "", "application/json", "text/csv", "*/*", "application/*", "text/*", "image/png",
           "text/html, application/json;q=0.9", "image/png, */*", ",,,", "x" * 5000]

Gen = Callable[[random.Random], bytes]


def _cell(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return rng.choice(["1200", "3", "2", "1500.5", "0", "5", "10", "1986"])
    return rng.choice(NUMBER_TOKENS)


def _row_text(rng: random.Random) -> str:
    if rng.random() < 0.3:
        keys = [rng.choice([*NAMES, "rooms", "", "x" * 200, "\\u00e9", "input", "instances"])
                for _ in range(rng.randint(0, 9))]
        return "{" + ",".join(f'"{k}": {_cell(rng)}' for k in keys) + "}"
    return "[" + ",".join(_cell(rng) for _ in range(rng.randint(0, 12))) + "]"


def _rows_text(rng: random.Random) -> str:
    return "[" + ",".join(_row_text(rng) for _ in range(rng.randint(0, 5))) + "]"


def token_json(rng: random.Random) -> bytes:
    """Envelopes built as text, so tokens JSON forbids (NaN, 1e400, 0x10) land inside them."""
    envelope = rng.choice(['{{"input": {r}}}', '{{"input": {rs}}}', '{{"instances": {rs}}}', '{{"inputs": {rs}}}',
                           '{{"data": {rs}}}', "{rs}", "{r}", '{{"instances": {rs}, "parameters": {p}}}',
                           '{{"input": {r}, "instances": {rs}}}', '{{"unknown": {r}}}', "{c}",
                           '{{"instances": {c}}}', '{{"input": {c}}}'])
    return envelope.format(r=_row_text(rng), rs=_rows_text(rng), c=_cell(rng),
                           p=rng.choice(["{}", "null", "3", "[]", '{"k": [1]}', '"x"'])).encode()


def deep(rng: random.Random) -> bytes:
    depth = rng.choice([rng.randint(1, 40), rng.randint(30, 34), rng.randint(900, 1100), rng.randint(1, 3000)])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}"), ('{"input":', "}"), ('[{"x":', "}]")])
    inner = rng.choice(["1", "[1200, 3, 2]", '"s"', "null", ""])
    body = opener * depth + inner + closer * depth
    if rng.random() < 0.3:
        body = body[: rng.randint(0, len(body))]  # unbalanced
    wrap = rng.choice(["{}", '{{"input": {}}}', '{{"instances": [{}]}}', '{{"instances": [[1200]], "parameters": {}}}'])
    return wrap.format(body).encode()


def strings_with_brackets(rng: random.Random) -> bytes:
    """Brackets inside strings, and escapes, which a depth scan must not count."""
    text = "".join(rng.choice(['[', ']', '{', '}', '\\"', '\\\\', "a", ",", ":"]) for _ in range(rng.randint(0, 80)))
    return rng.choice(['{{"input": ["{t}", 3, 2]}}', '{{"input": {{"{t}": 3}}}}', '["{t}"]', '"{t}"']).format(
        t=text).encode()


def valid_json(rng: random.Random) -> bytes:
    row: object = [rng.uniform(100, 30000), rng.randint(0, 20), rng.uniform(0, 15)][: rng.randint(1, 3)]
    if rng.random() < 0.3:
        row = {"living_area_sqft": rng.uniform(100, 30000), "bedrooms": rng.randint(0, 20)}
    shape = rng.choice([{"input": row}, {"input": [row, row]}, {"instances": [row]}, {"inputs": [row]},
                        {"data": [row]}, [row], row, {"instances": [row], "parameters": {"k": 1}}])
    return json.dumps(shape).encode()


def mutated(rng: random.Random) -> bytes:
    """A valid body with bytes flipped, cut, inserted, or with a BOM or bad UTF-8 in it."""
    body = bytearray(valid_json(rng))
    for _ in range(rng.randint(1, 4)):
        what = rng.random()
        at = rng.randint(0, len(body))
        if what < 0.25:
            body[at:at + 1] = bytes([rng.randint(0, 255)])
        elif what < 0.45:
            del body[at:]
        elif what < 0.65:
            body[at:at] = rng.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x00", b"\\ud800", b"\xe2\x82"])
        elif what < 0.8:
            body[0:0] = rng.choice([b"\xef\xbb\xbf", b"\xff\xfe", b" \n\t"])
        else:
            body[at:at] = rng.choice([b",", b"]", b"}", b"{", b"[", b'"', b":", b"NaN"])
    return bytes(body)


def mixed_rows(rng: random.Random) -> bytes:
    items = [rng.choice([[1200, 3, 2], {"bedrooms": 3}, 3, "x", None, True, [], {}, [[1200]], [True, 3],
                         {"rooms": 1}, [1e300, 3], [None] * 8, [1200] * 9]) for _ in range(rng.randint(1, 6))]
    return json.dumps(rng.choice([items, {"input": items}, {"instances": items}, {"data": items}])).encode()


def csv_body(rng: random.Random) -> bytes:
    lines: list[str] = []
    if rng.random() < 0.3:
        lines.append(",".join(rng.sample(NAMES, rng.randint(1, 8))))
    for _ in range(rng.randint(0, 6)):
        kind = rng.random()
        if kind < 0.1:
            lines.append("")
        elif kind < 0.2:
            lines.append(",".join(["1"] * rng.choice([9, 1000, 100_000])))  # huge lines
        elif kind < 0.35:
            lines.append(",".join(f'"{_cell(rng)}"' for _ in range(rng.randint(1, 4))))  # quotes
        else:
            lines.append(",".join(rng.choice([_cell(rng), "", " ", "nan", "inf"]) for _ in range(rng.randint(1, 9))))
    sep = rng.choice(["\n", "\r\n", "\r", "\n\n"])
    return sep.join(lines).encode()


def random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randint(0, 300))


def too_many_rows(rng: random.Random) -> bytes:
    n = rng.choice([10_000, 10_001, 12_000])
    return json.dumps(rng.choice([{"instances": [[1200, 3, 2]] * n}, {"input": [[1200]] * n}])).encode()


GENERATORS: list[tuple[Gen, int]] = [  # (generator, weight)
    (token_json, 25), (deep, 10), (strings_with_brackets, 5), (valid_json, 10), (mutated, 20),
    (mixed_rows, 10), (csv_body, 15), (random_bytes, 5), (too_many_rows, 1),
]


def requests(seed: int, count: int) -> Iterator[tuple[bytes, str | None, str | None]]:
    """(body, content type, accept) triples; the content type often fits the body, sometimes not."""
    rng = random.Random(seed)
    gens = [g for g, _ in GENERATORS]
    weights = [w for _, w in GENERATORS]
    for _ in range(count):
        gen = rng.choices(gens, weights)[0]
        body = gen(rng)
        if rng.random() < 0.7:
            ctype: str | None = "text/csv" if gen is csv_body else "application/json"
        else:
            ctype = rng.choice(CONTENT_TYPES)
        accept = rng.choice(ACCEPTS) if rng.random() < 0.4 else None
        yield body, ctype, accept

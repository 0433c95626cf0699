"""The request envelope rules: which keys hold rows, when a body is one row, how CSV lines split.

One description shared by the serving runtime and by the Model Monitor record preprocessor, which
embeds this file's source in the script it ships (infra/aws/monitor_baseline.py). So this module
imports only the standard library and stays valid on older Pythons once annotations are postponed:
no `X | Y` at run time, no walrus, no match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

SINGLE_KEY = "input"  # a row or a list of rows, answered under the model's output name
ROW_KEYS = ("instances", "inputs", "data")  # a list of rows, answered as {"predictions": [...]}
ENVELOPES = ('{"input": row-or-rows}, {"instances": rows}, {"inputs": rows}, {"data": rows}, '
             "or an object keyed by feature name")
_SHORT = 40  # characters of a value quoted back in a message
MAX_JSON_DEPTH = 32  # nested arrays/objects; a request envelope needs at most 3 ({"input": [[...]]})


class EnvelopeError(ValueError):
    """The body is not one of the envelopes; `code` and `expected` go into the error reply."""

    def __init__(self, code: str, message: str, expected: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.expected = expected


def describe(value: object) -> str:
    """A bounded, non-recursive description of a request value for an error message: repr() of a
    deeply nested list recurses (RecursionError near 1,000 levels) and of a long string is huge."""
    if value is None or isinstance(value, (bool, float)):
        return repr(value)
    if isinstance(value, int):
        text = str(value) if abs(value) < 10**30 else "a very large integer"
    elif isinstance(value, str):
        text = repr(value[:_SHORT])
    elif isinstance(value, list):
        return "a list of {} item{}".format(len(value), "" if len(value) == 1 else "s")
    elif isinstance(value, dict):
        return "an object with {} key{}".format(len(value), "" if len(value) == 1 else "s")
    else:
        text = type(value).__name__
    return text if len(text) <= _SHORT else text[:_SHORT - 3] + "..."


def is_row(value: object) -> bool:
    """[1200, 3, 2] is one row; [[...], ...] or [{...}, ...] are rows. The first item decides; a list
    mixing both is refused later by the encoder, naming the item."""
    return isinstance(value, list) and len(value) > 0 and not isinstance(value[0], (list, dict))


def unwrap(doc: object, feature_names: Sequence[str]) -> tuple[list[object], bool, bool]:
    """-> (rows, answer under the model's output name (else {"predictions": [...]}), single row?)."""
    if isinstance(doc, dict):
        if SINGLE_KEY in doc:
            value = doc[SINGLE_KEY]
            if isinstance(value, dict) or is_row(value):  # the seed's {"input": [1200, 3, 2]}
                return [value], True, True
            if isinstance(value, list):
                return value, True, False
            raise EnvelopeError("invalid_input",
                                "'input' must be a row or a list of rows, got " + type(value).__name__,
                                "a list of numbers, an object keyed by feature name, or a list of those")
        for key in ROW_KEYS:
            if key in doc:
                rows = doc[key]
                if not isinstance(rows, list):
                    raise EnvelopeError("invalid_input", repr(key) + " must be a list of rows", "a JSON array of rows")
                return rows, False, False
        if doc and all(k in feature_names for k in doc):
            return [doc], True, True
        keys = ", ".join(describe(k) for k in sorted(doc)[:5])
        raise EnvelopeError("invalid_envelope", "unrecognised request keys [" + keys + "]", ENVELOPES)
    if isinstance(doc, list):
        return ([doc] if is_row(doc) else doc), False, False
    raise EnvelopeError("invalid_envelope", "expected a JSON object or array, got " + type(doc).__name__,
                        "a JSON object or array")


def split_csv(text: str, feature_names: Sequence[str]) -> tuple[list[str] | None, list[list[str]]]:
    """-> (header, cell texts per line). Blank lines are skipped; a first line made only of feature
    names is a header that maps columns by name, else columns are features by position."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return None, []
    first = [c.strip().strip('"') for c in lines[0].split(",")]
    if all(c in feature_names for c in first):
        return first, [line.split(",") for line in lines[1:]]
    return None, [line.split(",") for line in lines]


# The depth scan: a body nested deeper than MAX_JSON_DEPTH is no request, and is refused before
# anything recursive (repr, a recursive parser, the encoder) sees it.
_ESCAPE = re.compile(rb"\\.")  # an escape inside a string: \" must not end it, \\ must not escape the quote
_STRING = re.compile(rb'"[^"]*"')
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_INNERMOST = re.compile(rb"\[\]|\{\}")


def deeper_than(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether valid JSON `body` nests arrays/objects more than `limit` deep. No recursion and no
    Python loop over bytes: strings are cut out and innermost pairs removed level by level, all in C."""
    if len(body) <= 2 * limit:  # each level takes two bytes: the 1-row path stops here
        return False
    if b"\\" in body:
        body = _ESCAPE.sub(b"", body)
    structure = body.translate(None, _NOT_STRUCTURE).replace(b'""', b"")  # most strings hold no bracket
    if len(structure) <= limit:  # too few brackets to be deeper
        return False
    if b'"' in structure:
        structure = _STRING.sub(b"", structure)
    shallow = structure
    for _ in range(limit // 2):  # fast: each pass removes one or two levels ({[]} goes in one)
        shallow = shallow.replace(b"[]", b"").replace(b"{}", b"")
        if not shallow:
            return False
    for _ in range(limit):  # exact, for the rare body nested more than limit // 2
        structure = _INNERMOST.sub(b"", structure)  # one level per pass: {[]} becomes {}, not nothing
        if not structure:
            return False
    return True

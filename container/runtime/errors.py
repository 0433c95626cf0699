"""The one bad-request exception of the runtime, and the one table from error code to HTTP status.

The model layer raises SchemaError and EnvelopeError (it knows nothing of HTTP);
`RequestError.from_model_error` is the only place those become a request error.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from model.envelope import EnvelopeError
from model.errors import SchemaError, error_fields

DEFAULT_STATUS = 400  # every code not in the table
STATUS_BY_CODE: Mapping[str, int] = MappingProxyType({
    "not_found": 404,
    "method_not_allowed": 405,
    "not_acceptable": 406,
    "request_timeout": 408,
    "too_many_rows": 413,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "headers_too_large": 431,
    "internal_error": 500,
    "loading": 503,
    "overloaded": 503,
    "shutting_down": 503,
})


def status_for(code: str) -> int:
    return STATUS_BY_CODE.get(code, DEFAULT_STATUS)


class RequestError(Exception):
    """The request cannot be served. `status` follows from `code` through STATUS_BY_CODE; `row` and
    `field` locate the problem in the body when there is one; `expected` says what would be accepted."""

    def __init__(self, code: str, message: str, *, expected: str | None = None, row: int | None = None,
                 field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.expected = expected
        self.row = row
        self.field = field

    @property
    def status(self) -> int:
        return status_for(self.code)

    def to_dict(self) -> dict[str, object]:
        """The value of "error" in the reply body: code and message, then whichever of row, field,
        expected are known (the documented shape)."""
        return error_fields(self.code, self.message, self.row, self.field, self.expected)

    @classmethod
    def from_model_error(cls, exc: SchemaError | EnvelopeError) -> RequestError:
        if isinstance(exc, EnvelopeError):
            return cls(exc.code, exc.message, expected=exc.expected)
        return cls(exc.code, exc.message, expected=exc.expected, row=exc.row, field=exc.field)

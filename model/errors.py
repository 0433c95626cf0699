"""Errors raised by the model layer; each names what was wrong and what was expected."""

from __future__ import annotations


class ModelstageError(Exception):
    """Base class: a user-facing error whose message is safe to print without a traceback.

    exit_code is what the command line returns: 2 for bad input, 1 for a check that ran and failed."""

    exit_code: int = 2


class BundleError(ModelstageError):
    """The bundle is missing, incomplete, tampered with or of an unknown format."""


class ArchiveLimitError(BundleError):
    """An archive or download went past a limit; `limit` says which ("bytes" or "files"), so the
    runtime can name the setting that raises it."""

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class PackagingError(ModelstageError):
    """The model could not be packaged (unreadable file, ONNX disagreement, bad feature names)."""


class SchemaError(ModelstageError):
    """A request row does not match the input schema.

    `row` and `field` locate the problem (None when it concerns the whole request); `expected`
    says what would have been accepted.
    """

    def __init__(self, message: str, *, row: int | None = None, field: str | None = None,
                 expected: str | None = None, code: str = "invalid_input") -> None:
        super().__init__(message)
        self.message = message
        self.row = row
        self.field = field
        self.expected = expected
        self.code = code

    def to_dict(self) -> dict[str, object]:
        return error_fields(self.code, self.message, self.row, self.field, self.expected)


def error_fields(code: str, message: str, row: int | None, field: str | None,
                 expected: str | None) -> dict[str, object]:
    """The documented error shape: code and message, then whichever of row, field, expected are known."""
    out: dict[str, object] = {"code": code, "message": message}
    if row is not None:
        out["row"] = row
    if field is not None:
        out["field"] = field
    if expected is not None:
        out["expected"] = expected
    return out

"""GCP's documented rules that its machine-readable schemas do not carry: label rules, the id
formats of each API (stated in prose in the discovery documents' descriptions, the aiplatform proto
comments and the API references), each with its source.

A rule returns the ways a value breaks it (`Broken`: the rule, what is allowed); an empty list when
the value is fine. Patterns are matched against the whole value.
"""

# pyright: strict, reportMissingTypeStubs=false, reportUnknownMemberType=false, reportUnknownVariableType=false
# (regex ships no type stubs)

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

import regex

LABELS_DOC = "https://cloud.google.com/resource-manager/docs/labels-overview#requirements"
BUCKET_NAMES_DOC = "https://cloud.google.com/storage/docs/buckets#naming"
AR_REPOSITORY_DOC = "https://cloud.google.com/artifact-registry/docs/repositories/create-repos (repository names)"


@dataclass(frozen=True)
class Broken:
    rule: str
    allowed: str


Rule = Callable[[object], list[Broken]]


@dataclass(frozen=True)
class Documented:
    """A rule and where it is written."""

    check: Rule
    source: str


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def pattern(expr: str, allowed: str | None = None) -> Rule:
    compiled = regex.compile(expr)

    def check(value: object) -> list[Broken]:
        text = _text(value)
        if text is None:
            return [Broken("type", "a string")]
        return [] if compiled.fullmatch(text) else [Broken("pattern", allowed or expr)]

    return check


def length(lo: int, hi: int, *, unit: str = "characters") -> Rule:
    """Between lo and hi characters (unit="bytes": UTF-8 bytes)."""

    def check(value: object) -> list[Broken]:
        text = _text(value)
        if text is None:
            return [Broken("type", "a string")]
        n = len(text.encode()) if unit == "bytes" else len(text)
        if n < lo:
            return [Broken("min length", f"at least {lo} {unit}, got {n}")]
        if n > hi:
            return [Broken("max length", f"at most {hi} {unit}, got {n}")]
        return []

    return check


def every(*rules: Rule) -> Rule:
    def check(value: object) -> list[Broken]:
        return [b for r in rules for b in r(value)]

    return check


def number(lo: float | None = None, hi: float | None = None, *, what: str = "") -> Rule:
    def check(value: object) -> list[Broken]:
        n = as_number(value)
        if n is None:
            return [Broken("type", "a number")]
        if lo is not None and n < lo:
            return [Broken("min value", f">= {lo:g}{what}")]
        if hi is not None and n > hi:
            return [Broken("max value", f"<= {hi:g}{what}")]
        return []

    return check


def as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


_DURATION = regex.compile(r"-?[0-9]+(?:\.[0-9]{1,9})?s")


def seconds(value: object) -> float | None:
    """A protobuf Duration in JSON ("7776000s", "1.5s") as seconds; None when it is not one."""
    if isinstance(value, str) and _DURATION.fullmatch(value):
        return float(value[:-1])
    return None


def duration(lo_s: float | None = None, hi_s: float | None = None) -> Rule:
    def check(value: object) -> list[Broken]:
        s = seconds(value)
        if s is None:
            return [Broken("format", 'a google-duration: seconds with an "s" suffix, e.g. "3.5s"')]
        if lo_s is not None and s < lo_s:
            return [Broken("min value", f"at least {lo_s:g}s")]
        if hi_s is not None and s > hi_s:
            return [Broken("max value", f"at most {hi_s:g}s")]
        return []

    return check


# -- labels ---------------------------------------------------------------------------------------

# "Keys have a minimum length of 1 character and a maximum length of 63 characters ... Values can be
# empty, and have a maximum length of 63 characters. Keys and values can contain only lowercase
# letters, numeric characters, underscores, and dashes. All characters must use UTF-8 encoding, and
# international characters are allowed. Keys must start with a lowercase letter or international
# character. Each resource can have multiple labels, up to a maximum of 64." (LABELS_DOC)
_LOWER = r"\p{Ll}\p{Lo}"  # lowercase letters, and letters of scripts that have no case
_KEY = regex.compile(rf"[{_LOWER}][{_LOWER}\p{{Nd}}_-]*")
_VALUE = regex.compile(rf"[{_LOWER}\p{{Nd}}_-]*")


@dataclass(frozen=True)
class LabelRules:
    max_chars: int = 63
    max_labels: int = 64
    source: str = f"GCP labels ({LABELS_DOC})"


GCP_LABELS = LabelRules()
# aiplatform_v1 Model.labels / Endpoint.labels: "Label keys and values can be no longer than 64
# characters (Unicode codepoints), can only contain lowercase letters, numeric characters,
# underscores and dashes. International characters are allowed."
VERTEX_LABELS = LabelRules(max_chars=64, source="aiplatform v1 proto comment of Model.labels / Endpoint.labels "
                                                "(and GCP labels: keys start with a lowercase letter, at most 64)")


def label_problems(labels: object, rules: LabelRules = GCP_LABELS) -> list[tuple[str, object, Broken]]:
    """(where: "" for the map, "key K" or "K" for a value, the value, what it breaks)."""
    if not isinstance(labels, Mapping):
        return [("", labels, Broken("type", "a map of strings"))]
    found: list[tuple[str, object, Broken]] = []
    items = list(cast(Mapping[object, object], labels).items())
    if len(items) > rules.max_labels:
        found.append(("", f"{len(items)} labels", Broken("max labels", f"at most {rules.max_labels}")))
    for key, value in items:
        k = str(key)
        if not _KEY.fullmatch(k):
            found.append((f" key {k!r}", k, Broken("label key", "starts with a lowercase letter; lowercase letters, "
                                                                 "digits, _ and - only")))
        if not 1 <= len(k) <= rules.max_chars:
            found.append((f" key {k!r}", k, Broken("label key length", f"1 to {rules.max_chars} characters")))
        if not isinstance(value, str):
            found.append((f".{k}", value, Broken("type", "a string")))
            continue
        if not _VALUE.fullmatch(value):
            found.append((f".{k}", value, Broken("label value", "lowercase letters, digits, _ and - only")))
        if len(value) > rules.max_chars:
            found.append((f".{k}", value, Broken("label value length", f"at most {rules.max_chars} characters")))
    return found


# -- ids and names, by API ------------------------------------------------------------------------

def _bucket_name(value: object) -> list[Broken]:
    text = _text(value)
    if text is None:
        return [Broken("type", "a string")]
    found: list[Broken] = []
    if not regex.fullmatch(r"[a-z0-9][a-z0-9._-]*[a-z0-9]", text):
        found.append(Broken("pattern", "lowercase letters, digits, -, _ and .; starting and ending with a letter "
                                       "or digit"))
    if "." in text:
        if len(text) > 222 or any(not 1 <= len(part) <= 63 for part in text.split(".")):
            found.append(Broken("max length", "with dots: at most 222 characters, each dot-separated part at most 63"))
    elif not 3 <= len(text) <= 63:
        found.append(Broken("length", f"3 to 63 characters, got {len(text)}"))
    if text.startswith("goog") or "google" in text or "g00gle" in text:
        found.append(Broken("reserved", 'no "goog" prefix and no "google" in the name'))
    return found


def _endpoint_id(value: object) -> list[Broken]:
    text = _text(value)
    if text is None:
        return [Broken("type", "a string")]
    if text[:1].isdigit():
        ok = regex.fullmatch(r"[1-9][0-9]{0,8}", text) is not None
        return [] if ok else [Broken("pattern", "a number of at most 9 digits without a leading zero "
                                                f"(got {len(text)} characters)")]
    ok = regex.fullmatch(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?", text) is not None
    return [] if ok else [Broken("pattern", "starting with a letter: at most 63 of [a-z0-9-], ending with a letter "
                                            "or digit")]


BUCKET_NAME = Documented(_bucket_name, f"Cloud Storage bucket names ({BUCKET_NAMES_DOC})")
OBJECT_NAME = Documented(length(1, 1024, unit="bytes"),
                         "Cloud Storage object names (https://cloud.google.com/storage/docs/objects#naming)")
SERVICE_ACCOUNT_ID = Documented(
    every(length(6, 30), pattern(r"[a-z]([-a-z0-9]*[a-z0-9])")),
    "iam v1 CreateServiceAccountRequest.accountId: 6-30 characters, [a-z]([-a-z0-9]*[a-z0-9])")
SERVICE_ACCOUNT_DISPLAY_NAME = Documented(length(0, 100, unit="bytes"),
                                          "iam v1 ServiceAccount.displayName: at most 100 UTF-8 bytes")
SERVICE_ACCOUNT_DESCRIPTION = Documented(length(0, 256, unit="bytes"),
                                         "iam v1 ServiceAccount.description: at most 256 UTF-8 bytes")
CUSTOM_ROLE_ID = Documented(pattern(r"[a-zA-Z0-9_.]{3,64}"),
                            "iam v1 CreateRoleRequest.roleId: alphanumerics, _ and ., 3 to 64 characters")
AR_REPOSITORY_ID = Documented(
    pattern(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?",
            "starts with a lowercase letter, ends with a letter or digit; lowercase letters, digits and -; "
            "at most 63 characters"),
    f"Artifact Registry repository names ({AR_REPOSITORY_DOC})")
AR_CLEANUP_POLICY_ID = Documented(length(1, 127), "artifactregistry v1 Repository.cleanupPolicies: map keys are "
                                                  "policy IDs ... under 128 characters")
KMS_ID = Documented(pattern(r"[a-zA-Z0-9_-]{1,63}"),
                    "cloudkms v1 keyRings.create keyRingId / cryptoKeys.create cryptoKeyId: [a-zA-Z0-9_-]{1,63}")
KMS_ROTATION = Documented(duration(24 * 3600, 876_000 * 3600),
                          "cloudkms v1 CryptoKey.rotationPeriod: at least 24 hours and at most 876,000 hours")
BQ_DATASET_ID = Documented(pattern(r"[A-Za-z0-9_]{1,1024}"),
                           "bigquery v2 DatasetReference.datasetId: letters, digits, _; at most 1,024 characters")
BQ_TABLE_EXPIRATION = Documented(number(3_600_000, what=" ms"),
                                 "bigquery v2 Dataset.defaultTableExpirationMs: the minimum lifetime value is "
                                 "3600000 milliseconds (one hour)")
SCHEDULER_JOB_ID = Documented(pattern(r"[A-Za-z0-9_-]{1,500}"),
                              "cloudscheduler v1 Job.name: JOB_ID letters, digits, - and _, at most 500 characters")
SCHEDULER_HTTP_DEADLINE = Documented(duration(15, 30 * 60),
                                     "cloudscheduler v1 Job.attemptDeadline: for HTTP targets in [15 seconds, 30 "
                                     "minutes]")
LOG_BUCKET_ID = Documented(
    every(length(1, 100), pattern(r"[A-Za-z0-9][A-Za-z0-9_.-]*")),
    "logging v2 buckets.create bucketId: at most 100 characters of letters, digits, _, - and .; starting "
    "alphanumeric")
LOG_RETENTION = Documented(number(1, 3650, what=" days"),
                           "logging v2 LogBucket.retentionDays: minimum 1 day; at most 3650 days "
                           "(https://cloud.google.com/logging/docs/buckets#custom-retention)")
LOG_SINK_NAME = Documented(
    every(length(1, 100), pattern(r"[A-Za-z0-9][A-Za-z0-9_.-]*")),
    "logging v2 LogSink.name: at most 100 characters of letters, digits, _, - and .; first alphanumeric")
ALERT_DISPLAY_NAME = Documented(length(0, 512), "monitoring v3 AlertPolicy.displayName: at most 512 Unicode "
                                                "characters")
VERTEX_ENDPOINT_ID = Documented(
    _endpoint_id,
    "aiplatform v1 endpoints.create endpointId (and the CreateEndpointRequest.endpoint_id proto comment): "
    "starting with a number, at most 9 characters of [0-9] with no leading zeros; starting with a letter, at most "
    "63 of [a-z0-9-]")
VERTEX_DISPLAY_NAME = Documented(length(1, 128), "aiplatform v1 proto comment of Model/Endpoint.display_name: "
                                                 "required, up to 128 characters")

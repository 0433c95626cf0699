"""`modelstage smoke` on GCP: the sample request through the Vertex AI predict API, as any client calls it.

The request is Vertex's envelope (`{"instances": [row]}`), sent with the caller's Application Default
Credentials; an answer of exactly one prediction is unwrapped to `{"<output name>": value}`, anything
else is passed on as received for `infra.smoke.check_answer` to name.
"""

# pyright: strict, reportUnknownMemberType=false
# (google-auth ships partial types: google.auth.default returns an untyped credential, cast below)

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from infra.errors import SmokeError, SmokeFailed
from infra.outputs import ENDPOINT_NAME

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

INVOKE_URL = "invoke_url"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
EXPECTED_URL = "https://REGION-aiplatform.googleapis.com/v1/projects/PROJECT/locations/REGION/endpoints/ID:predict"
# The path of an endpoint's predict method; the host may differ (regional, dedicated or private endpoints).
_PREDICT_PATH = re.compile(r"/v1(?:beta1)?/projects/[^/]+/locations/[^/]+/endpoints/[^/:]+:predict")
_MAX_DETAIL = 500  # characters of a refusal's message kept in the error


def default_credentials() -> Credentials:
    """The caller's Application Default Credentials for the Vertex AI API (tests replace this)."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        found = cast("tuple[Credentials, str | None]", google.auth.default(scopes=list(SCOPES)))
    except DefaultCredentialsError as exc:
        raise SmokeError(f"no Google credentials to call the Vertex AI endpoint ({exc}); expected Application "
                         "Default Credentials (`gcloud auth application-default login`, a service account "
                         "key in GOOGLE_APPLICATION_CREDENTIALS, or the metadata server)") from exc
    return found[0]


def predict_url(outputs: Mapping[str, Any], endpoint_url: str | None) -> str:
    """The predict URL the outputs name, its scheme and host replaced by `endpoint_url` when given."""
    url = outputs.get(INVOKE_URL)
    if not isinstance(url, str) or not url:
        raise SmokeError(f"the stack has no {INVOKE_URL!r} output (got {url!r}); expected the endpoint's "
                         f"predict URL, {EXPECTED_URL}")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment \
            or not _PREDICT_PATH.fullmatch(parts.path):
        raise SmokeError(f"the stack's {INVOKE_URL!r} output is {url[:300]!r}; expected the endpoint's "
                         f"predict URL, {EXPECTED_URL}")
    if endpoint_url is None:
        return url
    base = urlsplit(endpoint_url)
    if base.scheme not in ("http", "https") or not base.netloc or base.query or base.fragment:
        raise SmokeError(f"endpoint URL {endpoint_url[:300]!r}: expected http(s)://HOST[:PORT], which replaces "
                         f"the scheme and host of {url}")
    return endpoint_url.rstrip("/") + parts.path


def _envelope(body: bytes) -> bytes:
    """`{"input": row}` -> Vertex's `{"instances": [row]}`."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SmokeError(f"the sample request is not JSON ({exc}); expected {{\"input\": [row values]}}") from exc
    if not isinstance(doc, dict) or "input" not in doc:
        raise SmokeError(f"the sample request {body[:200]!r} has no 'input'; expected {{\"input\": [row values]}}")
    return json.dumps({"instances": [cast(dict[str, Any], doc)["input"]]}).encode()


def _unwrap(payload: bytes, output_name: str) -> bytes:
    """`{"predictions": [value], ...}` -> `{"<output name>": value}`; any other answer as received."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return payload
    if not isinstance(doc, dict):
        return payload
    predictions = cast(dict[str, Any], doc).get("predictions")
    if not isinstance(predictions, list) or len(cast(list[Any], predictions)) != 1:
        return payload
    return json.dumps({output_name: cast(list[Any], predictions)[0]}).encode()


def _refusal(status_code: int, payload: bytes) -> str:
    """Google's `{"error": {"code", "message", "status"}}` as `STATUS: message (HTTP code)`."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        doc = None
    error = cast(dict[str, Any], doc).get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict):
        fields = cast(dict[str, Any], error)
        status = fields.get("status") or f"HTTP {status_code}"
        message = str(fields.get("message") or "(no message)")[:_MAX_DETAIL]
        return f"{status}: {message} (HTTP {status_code})"
    text = payload[:_MAX_DETAIL].decode("utf-8", "replace").strip() or "(empty body)"
    return f"HTTP {status_code}: {text}"


def invoker(outputs: Mapping[str, Any], *, output_name: str, timeout_s: float, endpoint_url: str | None,
            credentials: Credentials | None = None) -> Callable[[bytes], bytes]:
    """A function that posts the sample request (`{"input": row}`) to the stack's Vertex AI endpoint and
    returns the answer's body, a single prediction unwrapped to `{"<output_name>": value}`.

    One attempt per call (no retries, no token refresh on a 401: the smoke test judges the endpoint, not
    the network), connect and read each bounded by `timeout_s`. `credentials` defaults to
    `default_credentials()`. Raises SmokeError for bad outputs or missing credentials, SmokeFailed when
    the endpoint refuses or does not answer."""
    from google.auth.exceptions import GoogleAuthError
    from google.auth.transport.requests import AuthorizedSession
    from requests import exceptions as http

    url = predict_url(outputs, endpoint_url)
    endpoint = str(outputs.get(ENDPOINT_NAME) or url)
    creds = credentials if credentials is not None else default_credentials()
    session = AuthorizedSession(creds, refresh_status_codes=(), refresh_timeout=timeout_s)

    def scrub(message: str) -> str:
        """The message without the access token, whatever echoed it (an error body, an exception)."""
        token = getattr(creds, "token", None)
        if isinstance(token, str) and token:
            message = message.replace(token, "<access token>")
        return re.sub(r"(?i)(bearer\s+)(?!<access token>)\S+", r"\1<access token>", message)

    def send(body: bytes) -> bytes:
        request = _envelope(body)
        try:
            response = session.post(url, data=request, timeout=(timeout_s, timeout_s),
                                    headers={"Content-Type": "application/json", "Accept": "application/json"})
            payload = response.content
        except http.ConnectTimeout as exc:
            raise SmokeFailed(scrub(f"{endpoint} could not be reached at {url} within {timeout_s:g} s "
                                    f"({exc})")) from None
        except http.Timeout as exc:
            raise SmokeFailed(scrub(f"{endpoint} did not answer within the read timeout ({timeout_s:g} s) at "
                                    f"{url}: {exc}")) from None
        except http.ConnectionError as exc:
            raise SmokeFailed(scrub(f"{endpoint} could not be reached at {url}: {exc}")) from None
        except http.RequestException as exc:
            raise SmokeFailed(scrub(f"{endpoint} could not be called at {url}: {exc}")) from None
        except GoogleAuthError as exc:
            raise SmokeError(scrub(f"could not get a Google access token to call {endpoint}: {exc}")) from None
        if response.status_code >= 400:
            raise SmokeFailed(scrub(f"{endpoint} refused the sample request: "
                                    f"{_refusal(response.status_code, payload)}"))
        return _unwrap(payload, output_name)

    return send

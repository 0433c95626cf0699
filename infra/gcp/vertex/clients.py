"""The raw aiplatform GAPIC clients, made per call, and the error and timeout handling every Vertex call shares.

Providers hold a `VertexSettings` (plain data, pickled by dill into the state), never a client: a client
holds a transport, sockets and credentials. Every RPC gets an explicit timeout and a bounded retry on
429/503 only (those were rejected before the service acted, so even an upload is safe to resend); every
long-running operation is awaited with a polling timeout, and a timeout names the operation and the
resource. Error messages are built from the API's status code and message, and scrubbed of the
credential's token and anything shaped like a bearer token before they leave this module.
"""

# pyright: strict

from __future__ import annotations

import concurrent.futures
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import requests
from google.api_core import exceptions as api_exceptions
from google.api_core import retry as api_retry
from google.api_core.client_options import ClientOptions
from google.api_core.future import polling
from google.auth.credentials import Credentials

from infra.errors import InfraError

T = TypeVar("T")

_TOKENISH = re.compile(r"(?i)(bearer\s+|[?&](?:key|access_token)=)[\w.~+/%=-]+|ya29\.[\w.~+/=-]+")


class VertexError(InfraError):
    """A Vertex call failed; the message names the call and the resource, never a credential."""


class VertexNotFound(VertexError):
    """The resource is gone (read reports it as such, delete treats it as done)."""


class VertexConflict(VertexError):
    """409: the thing already exists (an earlier, interrupted run may have made it)."""


class VertexTimeout(VertexError):
    """A long-running operation did not finish in time; it may still finish on the service side."""


@dataclass(frozen=True)
class VertexSettings:
    """Where and how to call Vertex. `api_endpoint` and `credentials` exist for tests (a local fake, a
    fake credential); in production both stay None: the regional host and `google.auth.default()`."""

    api_endpoint: str | None = None
    credentials: Callable[[], Credentials] | None = None
    rpc_timeout_s: float = 60.0
    lro_timeout_s: float = 3600.0  # deploys take 15-30 min; stay under the resource's custom_timeouts
    poll_initial_s: float = 1.0
    poll_max_s: float = 20.0
    retry_initial_s: float = 1.0
    retry_deadline_s: float = 120.0


def api_endpoint(settings: VertexSettings, region: str) -> str:
    return settings.api_endpoint or f"{region}-aiplatform.googleapis.com"


def credentials(settings: VertexSettings) -> Credentials:
    if settings.credentials is not None:
        return settings.credentials()
    import google.auth

    found = cast(tuple[Any, Any], google.auth.default(  # pyright: ignore[reportUnknownMemberType]
        scopes=["https://www.googleapis.com/auth/cloud-platform"]))
    return cast(Credentials, found[0])


def region_of(name: str) -> str:
    """The region of a resource name `projects/P/locations/R/...`."""
    parts = name.split("/")
    if len(parts) < 4 or parts[0] != "projects" or parts[2] != "locations":
        raise VertexError(f"not a Vertex resource name: {name!r} (expected projects/P/locations/R/...)")
    return parts[3]


def redact(text: str, token: str | None = None) -> str:
    if token:
        text = text.replace(token, "[redacted]")
    return _TOKENISH.sub(lambda m: (m.group(1) or "") + "[redacted]", text)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        code: Any = getattr(exc, "code", None)
        return f"{type(exc).__name__} ({code}): {getattr(exc, 'message', exc)}"
    return f"{type(exc).__name__}: {exc}"


class Vertex:
    """The clients and call helpers for one provider method; made inside it, dropped when it returns."""

    def __init__(self, settings: VertexSettings, region: str) -> None:
        self.settings = settings
        self._creds = credentials(settings)
        self._options = ClientOptions(api_endpoint=api_endpoint(settings, region))
        self._models: Any = None
        self._endpoints: Any = None

    @property
    def models(self) -> Any:
        """A ModelServiceClient over REST (no gRPC channel left behind)."""
        if self._models is None:
            from google.cloud.aiplatform_v1 import ModelServiceClient

            self._models = ModelServiceClient(transport="rest", credentials=self._creds, client_options=self._options)
        return self._models

    @property
    def endpoints(self) -> Any:
        """An EndpointServiceClient over REST."""
        if self._endpoints is None:
            from google.cloud.aiplatform_v1 import EndpointServiceClient

            self._endpoints = EndpointServiceClient(transport="rest", credentials=self._creds,
                                                    client_options=self._options)
        return self._endpoints

    @property
    def rpc(self) -> dict[str, Any]:
        """Per-call timeout and retry: 429 and 503 are retried with backoff, nothing else."""
        s = self.settings
        retry = api_retry.Retry(
            predicate=api_retry.if_exception_type(api_exceptions.TooManyRequests, api_exceptions.ServiceUnavailable),
            initial=s.retry_initial_s, maximum=max(s.retry_initial_s, 10.0), multiplier=2.0, timeout=s.retry_deadline_s)
        return {"timeout": s.rpc_timeout_s, "retry": retry}

    def _token(self) -> str | None:
        token = getattr(self._creds, "token", None)
        return token if isinstance(token, str) and token else None

    def call(self, what: str, resource: str, fn: Callable[[], T]) -> T:
        """Run one RPC; turn its failure into a VertexError naming `what` and `resource`."""
        try:
            return fn()
        except api_exceptions.NotFound as exc:
            raise VertexNotFound(redact(f"{what} {resource}: {_describe(exc)}", self._token())) from None
        except api_exceptions.Conflict as exc:
            raise VertexConflict(redact(f"{what} {resource} failed: {_describe(exc)}", self._token())) from None
        except (api_exceptions.GoogleAPIError, api_exceptions.RetryError) as exc:
            raise VertexError(redact(f"{what} {resource} failed: {_describe(exc)}", self._token())) from None
        except requests.RequestException as exc:  # the REST transport's own: a per-call timeout, a refused connection
            raise VertexError(redact(f"{what} {resource} failed: {_describe(exc)} (timeout per call "
                                     f"{self.settings.rpc_timeout_s:g}s)", self._token())) from None

    def run(self, what: str, resource: str, start: Callable[[], Any]) -> Any:
        """Start a long-running operation and await it within `lro_timeout_s`; return its typed result."""
        operation = self.call(what, resource, start)
        name = str(getattr(getattr(operation, "operation", None), "name", "") or "?")
        s = self.settings
        poll = polling.DEFAULT_POLLING.with_delay(initial=s.poll_initial_s, maximum=s.poll_max_s, multiplier=1.5)
        try:
            return operation.result(timeout=s.lro_timeout_s, polling=poll)
        except concurrent.futures.TimeoutError:
            raise VertexTimeout(redact(
                f"{what} {resource}: operation {name} did not finish within {s.lro_timeout_s:g}s; it may still "
                "complete on the service side, and a re-run adopts what it finds", self._token())) from None
        except (api_exceptions.GoogleAPIError, api_exceptions.RetryError) as exc:
            raise VertexError(redact(f"{what} {resource} failed (operation {name}): {_describe(exc)}",
                                     self._token())) from None

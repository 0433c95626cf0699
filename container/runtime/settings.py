"""Every environment variable the runtime reads, read in one place."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from container.runtime.capture import CaptureSettings

SAGEMAKER_MODEL_DIR = "/opt/ml/model"
AZUREML_MOUNT_ROOT = "/var/azureml-app/azureml-models"
SAGEMAKER_MAX_BODY = 6 * 1024 * 1024  # InvokeEndpoint's 6 MiB (6,291,456 bytes)
VERTEX_MAX_BODY = 1_500_000  # Vertex AI shared public endpoint: 1.5 MB
AZURE_MAX_BODY = 6 * 1024 * 1024  # Azure documents no cap; we keep SageMaker's
# The drift gauges are computed on the event loop when /metrics is scraped, ~1.5 ms per 10,000 rows of
# 8 features, from a ring preallocated at 8 bytes per feature and row: this bounds both (with
# app.MAX_DRIFT_CELLS for wide schemas).
MAX_DRIFT_WINDOW = 1_000_000


class SettingsError(ValueError):
    """An environment variable holds a value the runtime cannot use."""


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected a whole number between {lo} and {hi}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name}={value}: expected a whole number between {lo} and {hi}")
    return value


def _route(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not value.startswith("/"):
        raise SettingsError(f"{name}={value!r}: expected a path starting with '/'")
    return value


def _sha256(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip().lower().removeprefix("sha256:")
    if raw and not re.fullmatch(r"[0-9a-f]{64}", raw):
        raise SettingsError(f"{name}={env[name]!r}: expected a sha256 digest (64 hex digits, optionally 'sha256:')")
    return raw or None


def _seconds(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected a number of seconds between {lo:g} and {hi:g}") from None
    if not lo <= value <= hi:  # also refuses nan
        raise SettingsError(f"{name}={value:g}: expected a number of seconds between {lo:g} and {hi:g}")
    return value


@dataclass(frozen=True)
class ServerLimits:
    """What one worker process allows its clients (README "Limits and hardening")."""

    max_header_bytes: int  # request line + headers
    max_headers: int  # header fields
    header_timeout: float  # first byte of a request -> end of its headers
    body_timeout: float  # end of headers -> end of body (also: a client not reading its response)
    keepalive_timeout: float  # idle connection, including a fresh one that has sent nothing
    max_connections: int  # open connections; clamped to the file-descriptor limit at start
    max_concurrency: int  # scoring requests between headers and response
    max_buffered_bytes: int  # request bodies held in memory, across connections
    scoring_threads: int  # threads that score off the event loop
    inline_cells: int  # rows x features scored on the event loop; more go to a thread
    upload_grace: float  # on SIGTERM: time an upload in progress gets to finish, then 503

    @staticmethod
    def from_env(env: Mapping[str, str]) -> ServerLimits:
        return ServerLimits(
            max_header_bytes=_int(env, "MODELSTAGE_MAX_HEADER_BYTES", 16 * 1024, 1024, 1 << 20),
            max_headers=_int(env, "MODELSTAGE_MAX_HEADERS", 100, 8, 10_000),
            header_timeout=_seconds(env, "MODELSTAGE_HEADER_TIMEOUT", 10.0, 0.1, 3600),
            body_timeout=_seconds(env, "MODELSTAGE_BODY_TIMEOUT", 30.0, 0.1, 3600),
            keepalive_timeout=_seconds(env, "MODELSTAGE_KEEPALIVE_TIMEOUT", 75.0, 0.1, 3600),
            max_connections=_int(env, "MODELSTAGE_MAX_CONNECTIONS", 1024, 1, 1_000_000),
            max_concurrency=_int(env, "MODELSTAGE_MAX_CONCURRENCY", 512, 1, 100_000),
            max_buffered_bytes=_int(env, "MODELSTAGE_MAX_BUFFERED_BYTES", 128 << 20, 1 << 20, 1 << 40),
            scoring_threads=_int(env, "MODELSTAGE_SCORING_THREADS", 2, 1, 256),
            inline_cells=_int(env, "MODELSTAGE_INLINE_CELLS", 2000, 0, 10_000_000),
            upload_grace=_seconds(env, "MODELSTAGE_UPLOAD_GRACE", 5.0, 0, 300),
        )


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    workers: int
    model_dir: str | None  # explicit MODEL_DIR; None means "discover"
    aip_storage_uri: str | None
    azureml_model_dir: str | None
    bundle_sha256: str | None  # pinned model.tar.gz digest (docs/bundle-hardening.md)
    bundle_manifest_sha256: str | None  # pinned bundle.json digest: checkable from unpacked files
    bundle_public_key: str | None  # Ed25519 public key: bundle.json.sig is then required
    max_bundle_bytes: int  # bytes unpacked from one archive / downloaded from one gs:// prefix
    max_bundle_files: int  # members of one archive / objects of one gs:// prefix
    max_archive_depth: int  # archives unpacked in a chain (a model.tar.gz inside one counts a level)
    vertex_health_route: str
    vertex_predict_route: str
    max_rows: int | None
    graceful_timeout: int
    limits: ServerLimits
    listen_fd: int | None  # set by the supervisor for its worker processes: the shared socket
    default_accept: str
    log_level: str
    drift_window: int = 10_000  # rows kept for the /metrics drift gauges; 0: off (MODELSTAGE_DRIFT_WINDOW)
    capture: CaptureSettings = field(default_factory=CaptureSettings)  # off unless MODELSTAGE_CAPTURE_DIR

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        # SageMaker's port is fixed at 8080 except in multi-container mode; Vertex names its own.
        port_var = next((v for v in ("AIP_HTTP_PORT", "SAGEMAKER_BIND_TO_PORT", "PORT") if env.get(v)), "PORT")
        return Settings(
            host=env.get("MODELSTAGE_HOST", "0.0.0.0"),
            port=_int(env, port_var, 8080, 1, 65535),
            workers=_int(env, "MODELSTAGE_WORKERS", _int(env, "SAGEMAKER_MODEL_SERVER_WORKERS", 1, 1, 64), 1, 64),
            model_dir=env.get("MODEL_DIR") or None,
            aip_storage_uri=env.get("AIP_STORAGE_URI") or None,
            azureml_model_dir=env.get("AZUREML_MODEL_DIR") or None,
            bundle_sha256=_sha256(env, "MODELSTAGE_BUNDLE_SHA256"),
            bundle_manifest_sha256=_sha256(env, "MODELSTAGE_BUNDLE_MANIFEST_SHA256"),
            bundle_public_key=env.get("MODELSTAGE_BUNDLE_PUBLIC_KEY", "").strip() or None,
            max_bundle_bytes=_int(env, "MODELSTAGE_MAX_BUNDLE_BYTES", 1 << 30, 1, 1 << 40),
            max_bundle_files=_int(env, "MODELSTAGE_MAX_BUNDLE_FILES", 1000, 1, 1_000_000),
            max_archive_depth=_int(env, "MODELSTAGE_MAX_ARCHIVE_DEPTH", 1, 0, 8),
            vertex_health_route=_route(env, "AIP_HEALTH_ROUTE", "/health"),
            vertex_predict_route=_route(env, "AIP_PREDICT_ROUTE", "/predict"),
            max_rows=_int(env, "MODELSTAGE_MAX_ROWS", 0, 0, 1_000_000) or None,
            graceful_timeout=_int(env, "MODELSTAGE_GRACEFUL_TIMEOUT", 25, 1, 300),
            limits=ServerLimits.from_env(env),
            listen_fd=_int(env, "MODELSTAGE_LISTEN_FD", 0, 0, 1 << 20) or None,
            default_accept=env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "application/json"),
            log_level=env.get("MODELSTAGE_LOG_LEVEL", env.get("SAGEMAKER_CONTAINER_LOG_LEVEL", "info")).lower(),
            drift_window=_int(env, "MODELSTAGE_DRIFT_WINDOW", 10_000, 0, MAX_DRIFT_WINDOW),
            capture=_capture(env),
        )


def _capture(env: Mapping[str, str]) -> CaptureSettings:
    """MODELSTAGE_CAPTURE_* (README "Capture"); the others are checked even when the directory is unset."""
    directory = env.get("MODELSTAGE_CAPTURE_DIR", "").strip() or None
    if directory is not None and not os.path.isabs(directory):
        raise SettingsError(f"MODELSTAGE_CAPTURE_DIR={directory!r}: expected an absolute path")
    return CaptureSettings(
        directory=directory,
        percent=_int(env, "MODELSTAGE_CAPTURE_PERCENT", 100, 0, 100),
        queue_records=_int(env, "MODELSTAGE_CAPTURE_QUEUE", 10_000, 1, 10_000_000),
        max_file_bytes=_int(env, "MODELSTAGE_CAPTURE_MAX_FILE_BYTES", 64 << 20, 4096, 1 << 40),
        flush_interval=_seconds(env, "MODELSTAGE_CAPTURE_FLUSH_INTERVAL", 0.25, 0.01, 60),
    )

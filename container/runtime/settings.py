"""Every environment variable the runtime reads, read in one place."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

SAGEMAKER_MODEL_DIR = "/opt/ml/model"
AZUREML_MOUNT_ROOT = "/var/azureml-app/azureml-models"
SAGEMAKER_MAX_BODY = 6 * 1024 * 1024  # InvokeEndpoint's 6 MiB (6,291,456 bytes)
VERTEX_MAX_BODY = 1_500_000  # Vertex AI shared public endpoint: 1.5 MB
AZURE_MAX_BODY = 6 * 1024 * 1024  # Azure documents no cap; we keep SageMaker's


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
    vertex_mode: bool  # AIP_MODE=PREDICTION: running on Vertex AI
    max_rows: int | None
    graceful_timeout: int
    default_accept: str
    log_level: str

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
            vertex_mode=env.get("AIP_MODE", "") == "PREDICTION",
            max_rows=_int(env, "MODELSTAGE_MAX_ROWS", 0, 0, 1_000_000) or None,
            graceful_timeout=_int(env, "MODELSTAGE_GRACEFUL_TIMEOUT", 25, 1, 300),
            default_accept=env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "application/json"),
            log_level=env.get("MODELSTAGE_LOG_LEVEL", env.get("SAGEMAKER_CONTAINER_LOG_LEVEL", "info")).lower(),
        )

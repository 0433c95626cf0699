"""Where a deployment's objects live in its artifact store (an S3 or GCS bucket, a blob container),
as pure functions of the deployment name, the bundle name and the archive digest. Every cloud uses
the same layout, so captures, reports and batch files are found the same way everywhere.
"""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    """Key prefixes in the artifact bucket. Model files are content-addressed: a version is immutable."""

    name: str  # deployment name
    model: str  # bundle name
    archive_sha256: str

    @property
    def model_prefix(self) -> str:
        return f"models/{self.model}/"

    @property
    def version_prefix(self) -> str:
        return f"{self.model_prefix}{self.archive_sha256}/"

    @property
    def archive_key(self) -> str:
        return f"{self.version_prefix}model.tar.gz"

    @property
    def metrics_key(self) -> str:
        return f"{self.version_prefix}metrics.json"

    @property
    def baseline_prefix(self) -> str:
        return f"monitoring/{self.name}/baseline/{self.archive_sha256}/"

    @property
    def capture_prefix(self) -> str:
        return f"datacapture/{self.name}/"

    @property
    def reports_prefix(self) -> str:
        return f"monitoring-reports/{self.name}/"

"""Pinned digests: the deployment says which bundle it means, the runtime refuses any other.

bundle.json's checksums catch corruption, not tampering: whoever can write the bucket can swap the
model and update its checksum. A digest fixed by the deployment (outside the bucket) cannot be.

Two digests, because the container does not always receive the archive:
- the archive's sha256 (model.tar.gz, the content address in the bucket's key) is checked when the
  archive itself reaches the container: a folder or a gs:// prefix holding model.tar.gz, or a bundle
  folder with model.tar.gz beside bundle.json (then the archive must also hold exactly those files);
- bundle.json's sha256 is checked whenever it is pinned. bundle.json lists the sha256 of every other
  file, so it pins them all; it is what SageMaker's unpacked /opt/ml/model can be checked against.
With only the archive pinned and only unpacked files received, the archive is rebuilt from the
files and compared; that agrees only when this zlib compresses as the packaging machine's did, so
deployments pin both.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.bundle import MANIFEST, Bundle, rebuilt_archive_sha256, sha256_file, verify_archive_matches
from model.errors import BundleError


@dataclass(frozen=True)
class Pins:
    archive_sha256: str | None = None  # sha256 of model.tar.gz
    manifest_sha256: str | None = None  # sha256 of bundle.json

    @property
    def any(self) -> bool:
        return bool(self.archive_sha256 or self.manifest_sha256)


def _refuse(what: str, actual: str, pinned: str, hint: str = "") -> BundleError:
    return BundleError(f"{what} has sha256 {actual}, but the deployment pinned {pinned}; refusing to serve a bundle "
                       f"other than the one deployed{hint}")


def _check_archive(bundle: Bundle, pinned: str, received_sha256: str | None) -> str:
    if received_sha256 is not None:  # we unpacked the archive and hashed it on the way
        if received_sha256 != pinned:
            raise _refuse("the received model.tar.gz", received_sha256, pinned)
        return "model.tar.gz sha256 (received archive)"
    if bundle.archive.is_file() and not bundle.archive.is_symlink():
        actual = sha256_file(bundle.archive)
        if actual != pinned:
            raise _refuse(str(bundle.archive), actual, pinned)
        verify_archive_matches(bundle)  # the pinned archive must be what is loaded, not a decoy beside it
        return "model.tar.gz sha256 (archive beside bundle.json, holding exactly its files)"
    rebuilt = rebuilt_archive_sha256(bundle.path)
    if rebuilt != pinned:
        raise _refuse(f"model.tar.gz rebuilt from the unpacked files in {bundle.path}", rebuilt, pinned,
                      " (if the files are genuine, this zlib compresses differently from the packaging machine's: "
                      "pin bundle.json's sha256 as well, which does not depend on compression)")
    return "model.tar.gz sha256 (rebuilt from the unpacked files)"


def check_pins(bundle: Bundle, pins: Pins, *, received_archive_sha256: str | None = None) -> list[str]:
    """Refuse unless the bundle is the pinned one; return what was checked, for a log line.

    `received_archive_sha256`: the digest of the archive this bundle was unpacked from, if any."""
    checked: list[str] = []
    if pins.manifest_sha256:
        actual = sha256_file(bundle.path / MANIFEST)
        if actual != pins.manifest_sha256:
            raise _refuse(str(bundle.path / MANIFEST), actual, pins.manifest_sha256)
        checked.append("bundle.json sha256")
    if pins.archive_sha256:
        if pins.manifest_sha256 and received_archive_sha256 is None and not bundle.archive.is_file():
            return checked  # unpacked files only (SageMaker): bundle.json's pin covers them all
        checked.append(_check_archive(bundle, pins.archive_sha256, received_archive_sha256))
    return checked


"""Unpacking a model.tar.gz that may be hostile, and checking names that come from outside.

Streaming and bounded: bytes are counted while they are written and the copy stops at the limit,
so a small archive that would expand to gigabytes never reaches the disk (or memory) in full.
Only regular files and folders are written; links, devices, sparse files, absolute names and
names that climb out (`..`) are refused. The archive's sha256 is computed in the same single pass,
so the bytes that were checked are the bytes that were unpacked.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from model.errors import ArchiveLimitError, BundleError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    max_bytes: int = 1 << 30  # total bytes written from one archive or download (1 GiB)
    max_files: int = 1000  # members (files and folders) of one archive, objects of one download


DEFAULT_LIMITS = ArchiveLimits()


def unsafe_name(name: str) -> str | None:
    """Why `name` (a '/'-separated relative path from a manifest, an archive or a bucket) may not be
    used as a path inside a bundle, or None when it may."""
    if not name:
        return "it is empty"
    if "\x00" in name:
        return "it contains a NUL byte"
    if "\\" in name:
        return "it contains a backslash"
    if name.startswith("/"):
        return "it is absolute"
    parts = name.split("/")
    if ".." in parts:
        return "it climbs out of the folder ('..')"
    if any(p in ("", ".") for p in parts):
        return "it has an empty or '.' component"
    return None


def relative_parts(name: str, where: str) -> tuple[str, ...]:
    """`name` split into path components, or BundleError naming `where` and the rule broken."""
    reason = unsafe_name(name)
    if reason is not None:
        raise BundleError(f"{where}: refusing the name {name!r}: {reason}; expected a relative path "
                          "inside the bundle")
    return tuple(name.split("/"))


class _HashingReader:
    """A read-only file object that hashes and counts what passes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.sha256.update(data)
        return data

    def drain(self) -> str:
        while self.read(_CHUNK):
            pass
        return self.sha256.hexdigest()


class Budget:
    """Counts files and bytes against the limits; raises before the limit is crossed."""

    def __init__(self, where: str, limits: ArchiveLimits) -> None:
        self.where, self.limits = where, limits
        self.files = 0
        self.bytes = 0

    def add_file(self) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise ArchiveLimitError(f"{self.where}: more than {self.limits.max_files} files; expected a model "
                                    "bundle (a few files)", limit="files")

    def add_bytes(self, n: int) -> None:
        if self.bytes + n > self.limits.max_bytes:
            raise ArchiveLimitError(f"{self.where}: more than {self.limits.max_bytes} bytes once unpacked "
                                    f"(stopped after {self.bytes}); expected at most the limit", limit="bytes")
        self.bytes += n


def copy_limited(src: IO[bytes], target: Path, budget: Budget) -> None:
    """Copy `src` to a new file (never through an existing name or link), counting every chunk."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := src.read(_CHUNK):
            budget.add_bytes(len(chunk))
            out.write(chunk)


def _member_parts(member: tarfile.TarInfo, where: str) -> tuple[str, ...] | None:
    """The member's path inside the destination; None for the archive's own root ('.' or './')."""
    name = member.name
    while name.startswith("./"):
        name = name[2:]  # `tar -C dir .` writes ./name; that is still inside
    name = name.rstrip("/") if member.isdir() else name
    if name in ("", "."):
        return None
    return relative_parts(name, where)


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, budget: Budget) -> None:
    parts = _member_parts(member, f"{budget.where}: member {member.name!r}")
    if parts is None:
        return
    target = dest.joinpath(*parts)
    if member.isdir():
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        return
    if not member.isfile() or member.issparse():
        kind = "a symlink" if member.issym() else "a hard link" if member.islnk() else "a special file"
        raise BundleError(f"{budget.where}: member {member.name!r} is {kind}; expected regular files only")
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    src = tar.extractfile(member)
    if src is None:
        raise BundleError(f"{budget.where}: cannot read member {member.name!r}")
    try:
        copy_limited(src, target, budget)
    except FileExistsError:
        raise BundleError(f"{budget.where}: member {member.name!r} appears twice; expected unique names") from None


def unpack_archive(archive: Path, dest: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> str:
    """Unpack `archive` (tar.gz) into the existing folder `dest` within `limits`; return its sha256.

    On any refusal `dest` may hold a partial, bounded result: the caller owns and removes it."""
    budget = Budget(str(archive), limits)
    try:
        with archive.open("rb") as raw:
            reader = _HashingReader(raw)
            with tarfile.open(fileobj=reader, mode="r|gz") as tar:  # type: ignore[call-overload]
                for member in tar:
                    budget.add_file()
                    _extract_member(tar, member, dest, budget)
            return reader.drain()  # the digest covers the whole file, trailing bytes too
    except (tarfile.TarError, EOFError, OSError, UnicodeError) as exc:
        raise BundleError(f"{archive}: not a readable tar.gz ({type(exc).__name__}: {exc})") from exc


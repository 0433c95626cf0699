"""Detached Ed25519 signatures over bundle.json, for users who want to prove who packaged a bundle.

bundle.json lists the sha256 of every other file, so signing its exact bytes signs the whole bundle.
The signature lives in `bundle.json.sig` (base64 of the 64 signature bytes, one line) beside it and
inside model.tar.gz. Ed25519 signatures are deterministic, so a signed bundle stays reproducible.

Keys: the private key is a PEM file (`openssl genpkey -algorithm ed25519 -out key.pem`); the public
key is given as PEM text or as base64 of the 32 raw key bytes (what `modelstage package --sign-key`
prints). `cryptography` is in the serving image's lock already; it is imported only when used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from model.errors import BundleError, PackagingError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE = "bundle.json.sig"


def _load_private_key(path: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise PackagingError(f"{path}: not a readable unencrypted PEM private key ({exc}); expected an Ed25519 key "
                             "from `openssl genpkey -algorithm ed25519 -out key.pem`") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise PackagingError(f"{path}: holds a {type(key).__name__}; expected an Ed25519 private key")
    return key


def public_key_text(key: Ed25519PublicKey) -> str:
    """The form the runtime accepts in MODELSTAGE_BUNDLE_PUBLIC_KEY: base64 of the raw 32 bytes."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def fingerprint(key: Ed25519PublicKey) -> str:
    """A short name for a key in messages: sha256 of its raw bytes, first 16 hex digits."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def public_key_for(private_key: Path) -> str:
    """The public key text of a private key file (refuses an unreadable or non-Ed25519 key early)."""
    return public_key_text(_load_private_key(private_key).public_key())


def sign_manifest(bundle_dir: Path, private_key: Path) -> str:
    """Write bundle.json.sig for bundle_dir/bundle.json; return the public key text to give the runtime."""
    key = _load_private_key(private_key)
    signature = key.sign((bundle_dir / "bundle.json").read_bytes())
    (bundle_dir / SIGNATURE).write_bytes(base64.b64encode(signature) + b"\n")
    return public_key_text(key.public_key())


def load_public_key(text: str, origin: str) -> Ed25519PublicKey:
    """Parse PEM or base64 (raw 32 bytes or DER) Ed25519 public key text; `origin` names it in errors."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

    expected = "expected an Ed25519 public key as PEM or as base64 of its 32 raw bytes"
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_public_key(text.encode())
        else:
            raw = base64.b64decode(text, validate=True)
            key = Ed25519PublicKey.from_public_bytes(raw) if len(raw) == 32 else load_der_public_key(raw)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BundleError(f"{origin}: not a readable public key ({exc}); {expected}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"{origin}: holds a {type(key).__name__}; {expected}")
    return key


def verify_manifest_signature(bundle_dir: Path, key: Ed25519PublicKey) -> None:
    """Refuse unless bundle.json.sig is a valid signature of bundle.json by `key`."""
    from cryptography.exceptions import InvalidSignature

    sig_path, manifest = bundle_dir / SIGNATURE, bundle_dir / "bundle.json"
    if sig_path.is_symlink() or not sig_path.is_file():
        raise BundleError(f"{sig_path}: missing; a public key is set (key {fingerprint(key)}), so the bundle "
                          "must be signed (`modelstage package --sign-key KEY.pem`)")
    try:
        signature = base64.b64decode(sig_path.read_bytes().strip(), validate=True)
    except (ValueError, binascii.Error):
        signature = b""
    if len(signature) != 64:
        raise BundleError(f"{sig_path}: not an Ed25519 signature; expected base64 of 64 bytes")
    try:
        key.verify(signature, manifest.read_bytes())
    except InvalidSignature:
        raise BundleError(f"{manifest}: the signature in {SIGNATURE} does not verify with key {fingerprint(key)}; "
                          "bundle.json was changed after signing, or it was signed with another key") from None

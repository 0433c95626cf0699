"""A bundle that cannot escape or be swapped: names inside the bundle only, no symlinks, extras
ignored, pinned digests, and Ed25519 signatures over bundle.json. Real files, real archives."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from model.bundle import ARCHIVE, MANIFEST, Bundle, canonical_json, load_bundle, sha256_file
from model.errors import BundleError, PackagingError
from model.package import package_example
from model.pins import Pins, check_pins
from model.signing import SIGNATURE, load_public_key, sign_manifest, verify_manifest_signature


def _copy(bundle: Bundle, tmp_path: Path, name: str = "copy") -> Path:
    dest = tmp_path / name
    shutil.copytree(bundle.path, dest)
    return dest


def _edit_manifest(folder: Path, edit) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((folder / MANIFEST).read_text())
    edit(manifest)
    (folder / MANIFEST).write_bytes(canonical_json(manifest))


def swap_model(folder: Path) -> None:
    """The issue's attack: replace the model and update its checksum in bundle.json."""
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.onnx").write_bytes(bytes(data))
    _edit_manifest(folder, lambda m: m["files"].__setitem__("model.onnx", sha256_file(folder / "model.onnx")))


def _keypair(tmp_path: Path, name: str = "key") -> tuple[Path, str]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    key = Ed25519PrivateKey.generate()
    path = tmp_path / f"{name}.pem"
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    from model.signing import public_key_text

    return path, public_key_text(key.public_key())


# --- paths outside the bundle -------------------------------------------------------------------

@pytest.mark.parametrize(("name", "reason"), [
    ("../outside.onnx", r"climbs out"),
    ("/etc/outside.onnx", r"absolute"),
    ("sub\\..\\..\\outside.onnx", r"backslash"),
    ("model\x00.onnx", r"NUL"),
    ("./model.onnx", r"empty or '\.'"),
])
def test_names_outside_the_bundle_are_refused(bundle: Bundle, tmp_path: Path, name: str, reason: str) -> None:
    copy = _copy(bundle, tmp_path)
    outside = tmp_path / "outside.onnx"
    shutil.copy(copy / "model.onnx", outside)

    def point_outside(m: dict) -> None:  # type: ignore[type-arg]
        m["files"][name] = sha256_file(outside)
        m["model"]["file"] = name

    _edit_manifest(copy, point_outside)
    with pytest.raises(BundleError, match=rf"refusing the name .*: it .*{reason}.*; expected a relative path inside"):
        load_bundle(copy)


def test_an_absolute_path_to_a_real_file_is_refused(bundle: Bundle, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    outside = tmp_path / "outside.onnx"
    shutil.copy(copy / "model.onnx", outside)
    _edit_manifest(copy, lambda m: (m["files"].pop("model.onnx"), m["files"].__setitem__(str(outside), m["files"][
        "sample_request.json"]), m["model"].__setitem__("file", str(outside))))
    with pytest.raises(BundleError, match="it is absolute"):
        load_bundle(copy)


def test_the_model_file_must_be_listed(bundle: Bundle, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    shutil.copy(copy / "model.onnx", copy / "other.onnx")
    _edit_manifest(copy, lambda m: m["model"].__setitem__("file", "other.onnx"))
    with pytest.raises(BundleError, match=r"the model file 'other\.onnx' has no checksum in 'files'"):
        load_bundle(copy)


def test_format_files_cannot_be_listed_as_content(bundle: Bundle, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    _edit_manifest(copy, lambda m: m["files"].__setitem__(ARCHIVE, bundle.archive_sha256()))
    with pytest.raises(BundleError, match=r"lists 'model\.tar\.gz', which is part of the bundle format"):
        load_bundle(copy)


def test_a_deeply_nested_manifest_is_a_bundle_error(bundle: Bundle, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    (copy / MANIFEST).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(copy)


# --- extra files and symlinks -------------------------------------------------------------------

def test_extra_files_are_ignored_and_reported(bundle: Bundle, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    (copy / "evil.py").write_text("raise SystemExit('loaded')\n")
    (copy / "sub").mkdir()
    (copy / "sub" / "model.onnx").write_bytes(b"not the model")
    loaded = load_bundle(copy)
    assert loaded.extra_files == ("evil.py", "sub/model.onnx")
    assert loaded.model_path == copy / "model.onnx"


def test_a_listed_file_that_is_a_symlink_is_refused(bundle: Bundle, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    real = tmp_path / "elsewhere.onnx"
    (copy / "model.onnx").rename(real)
    (copy / "model.onnx").symlink_to(real)  # same bytes, same checksum: only the link gives it away
    with pytest.raises(BundleError, match=r"model\.onnx: is a symlink; a bundle holds regular files only"):
        load_bundle(copy)


def test_an_unlisted_symlink_in_the_bundle_is_refused(bundle: Bundle, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    (copy / "data").symlink_to("/etc")
    with pytest.raises(BundleError, match=r"data: is a symlink"):
        load_bundle(copy)


def test_a_symlinked_manifest_is_refused(bundle: Bundle, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    (copy / MANIFEST).rename(tmp_path / "real.json")
    (copy / MANIFEST).symlink_to(tmp_path / "real.json")
    with pytest.raises(BundleError, match=r"bundle\.json: is a symlink"):
        load_bundle(copy)


# --- pinned digests -----------------------------------------------------------------------------

def test_swapped_model_with_updated_checksum_loads_without_a_pin(bundle: Bundle, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    swap_model(copy)
    load_bundle(copy)  # the checksums catch corruption, not tampering: this is why the pin exists


def test_swapped_model_is_refused_by_the_manifest_pin_naming_both_digests(bundle: Bundle, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    (copy / ARCHIVE).unlink()  # as SageMaker hands it over: unpacked files only
    swap_model(copy)
    pinned = bundle.manifest_sha256()
    with pytest.raises(BundleError) as err:
        check_pins(load_bundle(copy), Pins(manifest_sha256=pinned))
    assert pinned in str(err.value) and sha256_file(copy / MANIFEST) in str(err.value)


def test_swapped_model_next_to_the_genuine_archive_is_refused(bundle: Bundle, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    swap_model(copy)  # model.tar.gz beside it is still the pinned one
    with pytest.raises(BundleError, match="does not hold exactly the bundle's verified files"):
        check_pins(load_bundle(copy), Pins(archive_sha256=bundle.archive_sha256()))


def test_archive_pin_on_unpacked_files_rebuilds_the_archive(bundle: Bundle, tmp_path: Path) -> None:
    good = _copy(bundle, tmp_path, "good")
    (good / ARCHIVE).unlink()
    assert check_pins(load_bundle(good), Pins(archive_sha256=bundle.archive_sha256())) == [
        "model.tar.gz sha256 (rebuilt from the unpacked files)"]
    swap_model(good)
    with pytest.raises(BundleError, match=rf"pinned {bundle.archive_sha256()}.*pin bundle\.json's sha256 as well"):
        check_pins(load_bundle(good), Pins(archive_sha256=bundle.archive_sha256()))


def test_the_correct_pins_load(bundle: Bundle, tmp_path: Path) -> None:
    pins = Pins(archive_sha256=bundle.archive_sha256(), manifest_sha256=bundle.manifest_sha256())
    assert len(check_pins(bundle, pins)) == 2
    unpacked = _copy(bundle, tmp_path)
    (unpacked / ARCHIVE).unlink()
    assert check_pins(load_bundle(unpacked), pins) == ["bundle.json sha256"]


# --- signatures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Bundle, str, Path]:
    tmp = tmp_path_factory.mktemp("signed")
    key, public = _keypair(tmp)
    return package_example(tmp / "bundle", sign_key=key), public, key


def test_package_signs_and_archives_the_signature(signed: tuple[Bundle, str, Path]) -> None:
    bundle, public, _ = signed
    assert bundle.signed
    with tarfile.open(bundle.archive) as tar:
        assert SIGNATURE in tar.getnames()
    verify_manifest_signature(bundle.path, load_public_key(public, "key"))
    load_bundle(bundle.path, verify_archive=True)


def test_a_signed_bundle_is_reproducible(signed: tuple[Bundle, str, Path], tmp_path: Path) -> None:
    bundle, _, key = signed
    again = package_example(tmp_path / "again", sign_key=key)
    assert again.archive_sha256() == bundle.archive_sha256()


def test_missing_signature_is_refused(bundle: Bundle, tmp_path: Path) -> None:
    _, public = _keypair(tmp_path)
    with pytest.raises(BundleError, match=r"bundle\.json\.sig: missing; a public key is set"):
        verify_manifest_signature(bundle.path, load_public_key(public, "key"))


def test_wrong_key_is_refused(signed: tuple[Bundle, str, Path], tmp_path: Path) -> None:
    _, other = _keypair(tmp_path, "other")
    with pytest.raises(BundleError, match=r"does not verify with key [0-9a-f]{16}"):
        verify_manifest_signature(signed[0].path, load_public_key(other, "key"))


def test_tampered_manifest_is_refused(signed: tuple[Bundle, str, Path], tmp_path: Path) -> None:
    copy = _copy(signed[0], tmp_path)
    swap_model(copy)  # bundle.json now lists the swapped model's checksum
    with pytest.raises(BundleError, match=r"bundle\.json was changed after signing"):
        verify_manifest_signature(copy, load_public_key(signed[1], "key"))


def test_malformed_signature_is_refused(signed: tuple[Bundle, str, Path], tmp_path: Path) -> None:
    copy = _copy(signed[0], tmp_path)
    (copy / SIGNATURE).write_text("not base64!\n")
    with pytest.raises(BundleError, match="not an Ed25519 signature; expected base64 of 64 bytes"):
        verify_manifest_signature(copy, load_public_key(signed[1], "key"))


@pytest.mark.parametrize("text", ["", "not a key", base64.b64encode(b"short").decode(),
                                  "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"])
def test_malformed_public_key_is_refused(text: str) -> None:
    with pytest.raises(BundleError, match=r"MY_KEY: not a readable public key .*expected an Ed25519 public key"):
        load_public_key(text, "MY_KEY")


def test_a_non_ed25519_public_key_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = rsa.generate_private_key(65537, 2048).public_key()
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(BundleError, match=r"holds a .*RSA.*expected an Ed25519 public key"):
        load_public_key(pem.decode(), "MY_KEY")


def test_pem_and_openssl_keys_work(bundle: Bundle, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl on PATH")
    key = tmp_path / "k.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key)], check=True)
    pub = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout"], check=True, capture_output=True, text=True)
    copy = _copy(bundle, tmp_path)
    sign_manifest(copy, key)
    verify_manifest_signature(copy, load_public_key(pub.stdout, "key"))


def test_a_bad_private_key_is_a_packaging_error(tmp_path: Path) -> None:
    (tmp_path / "k.pem").write_text("nope")
    with pytest.raises(PackagingError, match="not a readable unencrypted PEM private key"):
        sign_manifest(tmp_path, tmp_path / "k.pem")
    assert not os.path.exists(tmp_path / SIGNATURE)

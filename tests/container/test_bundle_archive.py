"""The runtime's side of a hostile or swapped bundle: archives unpacked within limits into private
folders removed at exit, pinned digests and signatures from the environment, and Vertex AI's
local AIP_STORAGE_URI. Real tar archives, real subprocesses."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from container.local import ServerProcess, free_port
from container.runtime.model_source import cleanup_unpacked, resolve_model_dir, worker_env
from container.runtime.settings import Settings, SettingsError
from model.bundle import ARCHIVE, MANIFEST, Bundle, load_bundle, sha256_file, write_reproducible_tar_gz
from model.errors import BundleError
from model.package import package_example
from tests.conftest import ROOT
from tests.model.test_bundle_hardening import _keypair, swap_model

BOMB_BYTES = 1 << 30  # what the bomb unpacks to
LIMIT = 32 << 20  # MODELSTAGE_MAX_BUNDLE_BYTES in the bomb test


def _settings(**env: str) -> Settings:
    return Settings.from_env(env)


def _tar_gz(dest: Path, members: dict[str, bytes | tarfile.TarInfo]) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        for name, content in members.items():
            if isinstance(content, tarfile.TarInfo):
                tar.addfile(content)
            else:
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return dest


def _archive_only(bundle_archive: Path, folder: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(bundle_archive, folder / ARCHIVE)
    return folder


@pytest.fixture(autouse=True)
def _private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Unpack folders go under the test's own TMPDIR, so what is left behind can be counted."""
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr("tempfile.tempdir", None)
    yield tmp
    cleanup_unpacked()


# --- archives -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~1 MiB model.tar.gz whose one member is 1 GiB of zeros, written as a stream."""
    path = tmp_path_factory.mktemp("bomb") / ARCHIVE

    class Zeros:
        def __init__(self, n: int) -> None:
            self.left = n

        def read(self, size: int) -> bytes:
            n = min(size, self.left)
            self.left -= n
            return bytes(n)

    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9) as gz, \
            tarfile.open(fileobj=gz, mode="w|") as tar:
        info = tarfile.TarInfo("model.onnx")
        info.size = BOMB_BYTES
        tar.addfile(info, Zeros(BOMB_BYTES))  # type: ignore[arg-type]
    return path


def test_tar_bomb_is_refused_without_writing_it(bomb: Path, tmp_path: Path) -> None:
    folder = _archive_only(bomb, tmp_path / "m")
    # The kernel kills the child (SIGXFSZ) if it ever writes a file past LIMIT + 1 MiB, so a pass
    # proves the bound on disk; the child's peak RSS shows memory stayed flat too.
    script = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_FSIZE, ({LIMIT + (1 << 20)}, {LIMIT + (1 << 20)}))
        from container.runtime.model_source import resolve_model_dir
        from container.runtime.settings import Settings
        from model.errors import BundleError
        try:
            resolve_model_dir(Settings.from_env({{"MODEL_DIR": {str(folder)!r},
                                                 "MODELSTAGE_MAX_BUNDLE_BYTES": "{LIMIT}"}}))
        except BundleError as exc:
            print(exc)
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (large) pytest process.
        hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
        print("maxrss_kib", int(hwm.split()[1]))
    """)
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "TMPDIR": str(tmp_path)})
    assert out.returncode == 0, f"child died (signal {-out.returncode}): {out.stderr}"
    assert f"more than {LIMIT} bytes once unpacked" in out.stdout, out.stdout + out.stderr
    assert "MODELSTAGE_MAX_BUNDLE_BYTES" in out.stdout
    rss = int(out.stdout.split("maxrss_kib")[1])
    print(f"\ntar bomb: {bomb.stat().st_size} bytes -> {BOMB_BYTES} declared; refused at {LIMIT} bytes in "
          f"{time.monotonic() - t0:.2f} s, child max RSS {rss // 1024} MiB")
    assert rss < 200 * 1024  # the bomb declares 1 GiB
    assert not list(tmp_path.glob("modelstage-*")), "the partial unpack folder was not removed"


def test_file_count_limit(tmp_path: Path) -> None:
    archive = _tar_gz(tmp_path / "many.tar.gz", {f"f{i}": b"x" for i in range(20)})
    folder = _archive_only(archive, tmp_path / "m")
    with pytest.raises(BundleError, match=r"more than 10 files.*MODELSTAGE_MAX_BUNDLE_FILES"):
        resolve_model_dir(_settings(MODEL_DIR=str(folder), MODELSTAGE_MAX_BUNDLE_FILES="10"))


def test_nested_archives_are_refused_past_the_depth_limit(bundle: Bundle, tmp_path: Path) -> None:
    outer = _tar_gz(tmp_path / "outer.tar.gz", {ARCHIVE: bundle.archive.read_bytes()})
    folder = _archive_only(outer, tmp_path / "m")
    with pytest.raises(BundleError, match=r"a nested archive, 2 levels deep; MODELSTAGE_MAX_ARCHIVE_DEPTH=1"):
        resolve_model_dir(_settings(MODEL_DIR=str(folder)))
    found = resolve_model_dir(_settings(MODEL_DIR=str(folder), MODELSTAGE_MAX_ARCHIVE_DEPTH="2"))
    assert load_bundle(found).version == bundle.version
    third = _archive_only(_tar_gz(tmp_path / "third.tar.gz", {ARCHIVE: outer.read_bytes()}), tmp_path / "m3")
    with pytest.raises(BundleError, match="3 levels deep"):
        resolve_model_dir(_settings(MODEL_DIR=str(third), MODELSTAGE_MAX_ARCHIVE_DEPTH="2"))


def _link(name: str, kind: bytes, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize(("member", "message"), [
    (_link("model.onnx", tarfile.SYMTYPE, "/etc/passwd"), "is a symlink; expected regular files only"),
    (_link("model.onnx", tarfile.LNKTYPE, "bundle.json"), "is a hard link"),
    (_link("dev", tarfile.CHRTYPE, ""), "is a special file"),
    (_link("../escape", tarfile.REGTYPE, ""), r"refusing the name '\.\./escape'"),
    (_link("/tmp/escape", tarfile.REGTYPE, ""), r"refusing the name '/tmp/escape'.*absolute"),
])
def test_unsafe_members_are_refused(member: tarfile.TarInfo, message: str, tmp_path: Path) -> None:
    folder = _archive_only(_tar_gz(tmp_path / "a.tar.gz", {member.name: member}), tmp_path / "m")
    with pytest.raises(BundleError, match=message):
        resolve_model_dir(_settings(MODEL_DIR=str(folder)))
    assert not (tmp_path / "escape").exists()


def test_unpack_folder_is_private(bundle: Bundle, tmp_path: Path, _private_tmp: Path) -> None:
    found = resolve_model_dir(_settings(MODEL_DIR=str(_archive_only(bundle.archive, tmp_path / "m"))))
    assert found.parent == _private_tmp and (found.stat().st_mode & 0o777) == 0o700
    cleanup_unpacked()
    assert not found.exists()


def test_unpack_folder_is_gone_after_the_process_exits(bundle: Bundle, tmp_path: Path) -> None:
    folder = _archive_only(bundle.archive, tmp_path / "m")
    script = ("from container.runtime.model_source import resolve_model_dir\n"
              "from container.runtime.settings import Settings\n"
              f"print(resolve_model_dir(Settings.from_env({{'MODEL_DIR': {str(folder)!r}}})))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "TMPDIR": str(tmp_path)})
    unpacked = Path(out.stdout.strip())
    assert unpacked.parent == tmp_path and unpacked.name.startswith("modelstage-model-")
    assert not unpacked.exists()


def test_unpack_folder_is_gone_after_the_server_stops(bundle: Bundle, tmp_path: Path) -> None:
    folder = _archive_only(bundle.archive, tmp_path / "m")
    port = free_port()
    with ServerProcess(folder, port, env={"TMPDIR": str(tmp_path)}, log_file=tmp_path / "log") as proc:
        proc.wait_healthy(30)
        assert len(list(tmp_path.glob("modelstage-model-*"))) == 1
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(30) == 0
    assert not list(tmp_path.glob("modelstage-model-*")), (tmp_path / "log").read_text()


# --- pinned digests and signatures through the environment -------------------------------------

def _unpacked(bundle_dir: Path, dest: Path) -> Path:
    """/opt/ml/model as SageMaker leaves it: the archive's files, no archive."""
    with tarfile.open(bundle_dir / ARCHIVE) as tar:
        tar.extractall(dest)
    return dest


def test_swapped_model_is_refused_on_sagemaker_naming_both_digests(bundle: Bundle, tmp_path: Path) -> None:
    opt_ml = _unpacked(bundle.path, tmp_path / "opt-ml-model")
    swap_model(opt_ml)
    load_bundle(opt_ml)  # the swap passes every checksum
    env = {"MODEL_DIR": str(opt_ml), "MODELSTAGE_BUNDLE_SHA256": bundle.archive_sha256(),
           "MODELSTAGE_BUNDLE_MANIFEST_SHA256": bundle.manifest_sha256()}
    with pytest.raises(BundleError) as err:
        resolve_model_dir(_settings(**env))
    assert bundle.manifest_sha256() in str(err.value) and sha256_file(opt_ml / MANIFEST) in str(err.value)


def test_the_same_bundle_with_the_correct_pins_loads(bundle: Bundle, tmp_path: Path) -> None:
    opt_ml = _unpacked(bundle.path, tmp_path / "opt-ml-model")
    env = {"MODEL_DIR": str(opt_ml), "MODELSTAGE_BUNDLE_SHA256": f"sha256:{bundle.archive_sha256().upper()}",
           "MODELSTAGE_BUNDLE_MANIFEST_SHA256": bundle.manifest_sha256()}
    assert resolve_model_dir(_settings(**env)) == opt_ml


def test_swapped_archive_is_refused_by_the_archive_pin(bundle: Bundle, tmp_path: Path) -> None:
    work = shutil.copytree(bundle.path, tmp_path / "work")
    swap_model(work)
    folder = tmp_path / "m"
    folder.mkdir()
    write_reproducible_tar_gz(work, [MANIFEST, *json.loads((work / MANIFEST).read_text())["files"]], folder / ARCHIVE)
    with pytest.raises(BundleError) as err:
        resolve_model_dir(_settings(MODEL_DIR=str(folder), MODELSTAGE_BUNDLE_SHA256=bundle.archive_sha256()))
    assert bundle.archive_sha256() in str(err.value) and sha256_file(folder / ARCHIVE) in str(err.value)
    good = _archive_only(bundle.archive, tmp_path / "good")
    found = resolve_model_dir(_settings(MODEL_DIR=str(good), MODELSTAGE_BUNDLE_SHA256=bundle.archive_sha256()))
    assert load_bundle(found).version == bundle.version


def test_workers_inherit_a_manifest_pin(bundle: Bundle, tmp_path: Path) -> None:
    settings = _settings(MODEL_DIR=str(_archive_only(bundle.archive, tmp_path / "m")),
                         MODELSTAGE_BUNDLE_SHA256=bundle.archive_sha256())
    env = worker_env(resolve_model_dir(settings), settings)
    assert env["MODELSTAGE_BUNDLE_MANIFEST_SHA256"] == bundle.manifest_sha256()
    assert resolve_model_dir(_settings(**env, MODELSTAGE_BUNDLE_SHA256=bundle.archive_sha256())) == Path(
        env["MODEL_DIR"])


@pytest.mark.parametrize("name", ["MODELSTAGE_BUNDLE_SHA256", "MODELSTAGE_BUNDLE_MANIFEST_SHA256"])
def test_a_malformed_pin_is_a_settings_error(name: str) -> None:
    with pytest.raises(SettingsError, match=rf"{name}='abc': expected a sha256 digest"):
        _settings(**{name: "abc"})


@pytest.fixture(scope="module")
def signed_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Bundle, str]:
    tmp = tmp_path_factory.mktemp("signed")
    key, public = _keypair(tmp)
    return package_example(tmp / "bundle", sign_key=key), public


def test_signature_checked_from_the_archive(signed_bundle: tuple[Bundle, str], tmp_path: Path) -> None:
    signed, public = signed_bundle
    folder = _archive_only(signed.archive, tmp_path / "m")
    found = resolve_model_dir(_settings(MODEL_DIR=str(folder), MODELSTAGE_BUNDLE_PUBLIC_KEY=public))
    assert load_bundle(found).signed


def test_unsigned_bundle_is_refused_when_a_key_is_set(bundle: Bundle, signed_bundle: tuple[Bundle, str]) -> None:
    with pytest.raises(BundleError, match=r"bundle\.json\.sig: missing"):
        resolve_model_dir(_settings(MODEL_DIR=str(bundle.path), MODELSTAGE_BUNDLE_PUBLIC_KEY=signed_bundle[1]))


def test_malformed_key_in_the_environment_is_named(signed_bundle: tuple[Bundle, str]) -> None:
    with pytest.raises(BundleError, match="MODELSTAGE_BUNDLE_PUBLIC_KEY: not a readable public key"):
        resolve_model_dir(_settings(MODEL_DIR=str(signed_bundle[0].path), MODELSTAGE_BUNDLE_PUBLIC_KEY="xyz"))


def test_extra_files_are_logged_not_loaded(bundle: Bundle, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    copy = shutil.copytree(bundle.path, tmp_path / "b")
    (copy / "notes.txt").write_text("hello")
    with caplog.at_level("WARNING", logger="modelstage.runtime"):
        resolve_model_dir(_settings(MODEL_DIR=str(copy)))
    assert "ignoring 1 file(s) bundle.json does not list (never loaded): notes.txt" in caplog.text


# --- Vertex AI: a local AIP_STORAGE_URI ---------------------------------------------------------

@pytest.mark.parametrize("scheme", ["", "file://"])
def test_vertex_local_storage_uri(bundle: Bundle, scheme: str) -> None:
    found = resolve_model_dir(_settings(AIP_STORAGE_URI=f"{scheme}{bundle.path}"))
    assert found == bundle.path


def test_vertex_local_archive_folder(bundle: Bundle, tmp_path: Path) -> None:
    folder = _archive_only(bundle.archive, tmp_path / "artifacts")
    found = resolve_model_dir(_settings(AIP_STORAGE_URI=str(folder), MODELSTAGE_BUNDLE_SHA256=bundle.archive_sha256()))
    assert load_bundle(found).version == bundle.version


@pytest.mark.parametrize("uri", ["relative/path", "s3://bucket/x", "file://relative"])
def test_vertex_storage_uri_must_be_gs_or_absolute(uri: str) -> None:
    with pytest.raises(BundleError, match="expected gs://BUCKET/PREFIX, file:///PATH or an absolute path"):
        resolve_model_dir(_settings(AIP_STORAGE_URI=uri))


def test_package_sign_key_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from modelstage.cli import main

    key, public = _keypair(tmp_path)
    assert main(["package", "--out", str(tmp_path / "b"), "--sign-key", str(key)]) == 0
    out = capsys.readouterr().out
    assert f"MODELSTAGE_BUNDLE_PUBLIC_KEY={public}" in out and '"signed": true' in out
    folder = _archive_only(tmp_path / "b" / ARCHIVE, tmp_path / "m")
    assert load_bundle(resolve_model_dir(_settings(MODEL_DIR=str(folder), MODELSTAGE_BUNDLE_PUBLIC_KEY=public))).signed
    (tmp_path / "bad.pem").write_text("nope")
    assert main(["package", "--out", str(tmp_path / "c"), "--sign-key", str(tmp_path / "bad.pem")]) == 2
    assert "not a readable unencrypted PEM private key" in capsys.readouterr().err

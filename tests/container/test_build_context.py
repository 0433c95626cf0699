"""The build context without an engine: which files go into the image, the content hash the image is
tagged with (pinned: a change here retags every image), the context tar, and that none of it needs
the docker SDK (infra/ imports it during preview and in CI without Docker)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from container.build_context import CONTEXT_PATHS, content_hash, context_sources, write_context
from container.build_errors import BuildError
from tests.container.conftest import ROOT

# Computed with container/build.py before it was split: the split must not retag any image.
PINNED_HASH = "c5da0d51bd64db71b7420a10a9f8436f3f4d156d3631b5f42247a7151d719e10"
PINNED_TAR_SHA256 = "36550958e1ca983832e671d11c601863b73ac6085ab2934db7d94d08a99c7c97"


def _tree(root: Path) -> Path:
    (root / "container" / "runtime" / "sub").mkdir(parents=True)
    (root / "model").mkdir()
    for name in ("Dockerfile", "requirements.txt", "requirements-skops.txt", "__init__.py"):
        (root / "container" / name).write_text(f"{name}\n")
    (root / "container" / "runtime" / "app.py").write_text("app\n")
    (root / "container" / "runtime" / "sub" / "x.py").write_text("x\n")
    (root / "container" / "runtime" / "__pycache__").mkdir()
    (root / "container" / "runtime" / "__pycache__" / "app.pyc").write_bytes(b"\0")
    (root / "container" / "local.py").write_text("not in the image\n")
    (root / "model" / "train.py").write_text("train\n")
    return root


def test_the_context_holds_the_image_inputs_only(tmp_path: Path) -> None:
    assert list(context_sources(_tree(tmp_path))) == [
        "container/Dockerfile", "container/__init__.py", "container/requirements-skops.txt",
        "container/requirements.txt", "container/runtime/app.py", "container/runtime/sub/x.py", "model/train.py"]


def test_the_content_hash_and_the_context_tar_are_unchanged(tmp_path: Path) -> None:
    sources = context_sources(_tree(tmp_path))
    assert content_hash(sources, {"BASE_IMAGE": "b", "RUNTIME_EXTRAS": ""}, "sha256:base") == PINNED_HASH
    write_context(tmp_path / "context.tar", sources, [])
    assert hashlib.sha256((tmp_path / "context.tar").read_bytes()).hexdigest() == PINNED_TAR_SHA256
    with tarfile.open(tmp_path / "context.tar") as tar:
        assert {m.mtime for m in tar.getmembers()} == {0} and "container" in tar.getnames()


def test_the_build_modules_are_not_image_inputs() -> None:
    # Only container/runtime and the files named in CONTEXT_PATHS are hashed: moving build code
    # between container/*.py modules leaves every content tag as it was.
    assert not any(path.startswith("container/build") or path.startswith("container/image")
                   for path in context_sources(ROOT))
    assert all((ROOT / path).exists() for path in CONTEXT_PATHS)


def test_a_checkout_without_the_runtime_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="container/runtime is missing"):
        context_sources(tmp_path)


@pytest.mark.parametrize("module", ["container.build_context", "container.build_errors",
                                    "container.source_labels", "infra.built_image"])
def test_the_image_inputs_import_without_docker_or_a_model(module: str) -> None:
    code = (f"import sys, {module}\n"
            "loaded = sorted(m for m in ('docker', 'sklearn', 'skl2onnx', 'onnxruntime') if m in sys.modules)\n"
            "assert not loaded, loaded\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]

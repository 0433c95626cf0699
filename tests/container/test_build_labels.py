"""The image's OCI revision and source labels come from the git checkout, and change only when what
goes into the image changes (a real git repository in a temporary folder; no engine needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from container.source_labels import source_revision, source_url


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "checkout"
    (repo / "container" / "runtime").mkdir(parents=True)
    (repo / "container" / "runtime" / "app.py").write_text("print('v1')\n")
    (repo / "README.md").write_text("readme\n")
    _git(repo.parent, "init", "-q", str(repo))
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")
    return repo


def _commit(repo: Path, message: str) -> str:
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", message)
    return _git(repo, "rev-parse", "HEAD")


def test_revision_is_the_last_commit_that_changed_the_image_inputs(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    first = _git(repo, "rev-parse", "HEAD")
    assert source_revision(repo) == first
    (repo / "README.md").write_text("docs only\n")
    _commit(repo, "docs")
    assert source_revision(repo) == first  # unchanged inputs: same label, same content hash
    (repo / "container" / "runtime" / "app.py").write_text("print('v2')\n")
    assert source_revision(repo) == first + "-dirty"
    changed = _commit(repo, "runtime change")
    assert source_revision(repo) == changed


def test_source_url_drops_credentials_and_outside_git_both_labels_are_empty(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    assert source_url(repo) == ""
    _git(repo, "remote", "add", "origin", "https://user:token@github.com/acme/modelstage.git")
    assert source_url(repo) == "https://github.com/acme/modelstage.git"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert (source_revision(plain), source_url(plain)) == ("", "")

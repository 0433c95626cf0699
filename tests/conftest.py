"""Shared fixtures: one example bundle per test session (training takes a few seconds)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from model.bundle import Bundle
from model.package import package_example

# google-auth must never probe a metadata server from tests.
os.environ.setdefault("NO_GCE_CHECK", "True")
os.environ.setdefault("GCE_METADATA_HOST", "127.0.0.1:9")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return package_example(tmp_path_factory.mktemp("bundle") / "house-prices")

"""Fixtures for the Vertex dynamic providers: the fake Vertex REST server on 127.0.0.1, and the settings
that point the real aiplatform clients at it with a fake credential whose token the tests look for."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.oauth2.credentials import Credentials

from infra.gcp.vertex.clients import VertexSettings
from tests.infra.gcp.fake_vertex import FakeVertex, FakeVertexServer

TOKEN = "ya29.fake-token-0123456789-must-never-leak"
PROJECT, REGION = "proj-1", "us-central1"
ENDPOINT = f"projects/{PROJECT}/locations/{REGION}/endpoints/4242"


def fake_credentials() -> Credentials:
    return Credentials(token=TOKEN)  # pyright: ignore[reportCallIssue]


@pytest.fixture
def fake() -> Iterator[FakeVertex]:
    """The fake's state; after the test, nothing it refused (unknown fields, bad traffic, no token)."""
    state = FakeVertex(token=TOKEN)
    state.add_endpoint(ENDPOINT)
    yield state
    assert state.violations == []


@pytest.fixture
def server(fake: FakeVertex) -> Iterator[FakeVertexServer]:
    running = FakeVertexServer(fake).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def settings(server: FakeVertexServer) -> VertexSettings:
    return VertexSettings(api_endpoint=server.url, credentials=fake_credentials, rpc_timeout_s=5.0,
                          lro_timeout_s=2.0, poll_initial_s=0.01, poll_max_s=0.05, retry_initial_s=0.01,
                          retry_deadline_s=3.0)

"""A real GCS emulator (gcp-storage-emulator, in memory, on 127.0.0.1) with STORAGE_EMULATOR_HOST set
while it runs, shared by the runtime's and the GCP stack's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from container.local import free_port


@contextmanager
def gcs_emulator() -> Iterator[str]:
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    host = f"http://127.0.0.1:{port}"
    old = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = host
    try:
        yield host
    finally:
        server.stop()
        if old is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = old

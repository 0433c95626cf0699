"""A real Azure Blob emulator (Azurite, installed by scripts/test-tools.sh) on 127.0.0.1, with its data in
a temporary folder, for the tests that read captures from Azure blob storage."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from container.local import free_port

AZURITE = Path("/var/tmp/modelstage-tools/node_modules/.bin/azurite-blob")
START_SECONDS = 30.0
STOP_SECONDS = 10.0
# Azurite's one built-in account and its published key (not a secret: the same on every machine).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def connection_string(port: int, key: str = ACCOUNT_KEY) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};")


def _answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def azurite() -> Iterator[str]:
    """Start azurite-blob, wait until its port answers, yield its connection string; stop it by its PID."""
    if not AZURITE.exists():  # CI installs it: a missing emulator is a broken setup, not a reason to skip
        raise RuntimeError(f"{AZURITE} is missing: run `bash scripts/test-tools.sh` to install Azurite")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="modelstage-azurite-") as location:
        proc = subprocess.Popen(
            [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", location,
             "--disableTelemetry", "--skipApiVersionCheck", "--silent"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + START_SECONDS
            while not _answers(port):
                if proc.poll() is not None:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    raise RuntimeError(f"azurite-blob exited with {proc.returncode}: {err[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"azurite-blob did not answer on port {port} within {START_SECONDS:.0f} s")
                time.sleep(0.1)
            yield connection_string(port)
        finally:
            proc.terminate()
            try:
                proc.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_SECONDS)
            if proc.stderr:
                proc.stderr.close()

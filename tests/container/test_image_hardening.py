"""The image's hardening (docs/image.md): the server gives up root before it loads a model, cannot
write the code it runs, serves under any non-root uid, and carries the malloc settings.

The first tests need no Docker: `container/runtime/privileges.py` is a no-op unless the process is
root and MODELSTAGE_RUN_AS is set. The real switch is tested in a child process when the test runs
as root (it cannot be undone, so never in the test process itself), and in the image."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from container.image_build import build_image
from container.local import free_port
from container.local_cloud import RunningCloud, start_cloud
from container.runtime import privileges
from container.runtime.privileges import PrivilegeError, Target, drop_privileges, target_from_env
from model.bundle import Bundle

ROOT = Path(__file__).resolve().parents[2]
SERVING = "10001:10001"  # the image's serving user (container/Dockerfile)
CODE_TREES = ("/opt/venv", "/opt/modelstage")


# ------------------------------------------------------------------ privileges.py, no Docker

@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("", None), ("  ", None), ("root", None), ("0", None), ("0:0", None),
    ("10001:10001", Target(10001, 10001)), ("12345", Target(12345, 12345)), (" 20:30 ", Target(20, 30)),
])
def test_run_as_values(value: str | None, expected: Target | None) -> None:
    env = {} if value is None else {privileges.RUN_AS_VAR: value}
    assert target_from_env(env) == expected


@pytest.mark.parametrize("value", ["modelstage", "10001:", "0:10001", "10001:0", "-5", "1:2:3", str(2**31)])
def test_bad_run_as_values_are_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(PrivilegeError, match=privileges.RUN_AS_VAR):
        target_from_env({privileges.RUN_AS_VAR: value})


def _forbid_switching(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("drop_privileges must not change ids here")

    for name in ("setgroups", "setgid", "setuid"):
        monkeypatch.setattr(privileges.os, name, refuse)


def test_not_root_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_switching(monkeypatch)
    monkeypatch.setattr(privileges.os, "geteuid", lambda: 12345)
    assert drop_privileges({privileges.RUN_AS_VAR: SERVING}) is None


def test_root_without_run_as_is_a_no_op(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`modelstage local` and the tests start the runtime on the host: no variable, no switch."""
    _forbid_switching(monkeypatch)
    monkeypatch.setattr(privileges.os, "geteuid", lambda: 0)
    assert drop_privileges({}) is None
    assert drop_privileges({privileges.RUN_AS_VAR: "root"}) is None
    assert "serving as root" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() != 0, reason="the real switch needs root (it is also tested in the image)")
def test_as_root_a_child_process_switches_for_good() -> None:
    code = ("import os, json; from container.runtime.privileges import drop_privileges; "
            "t = drop_privileges({'MODELSTAGE_RUN_AS': '10001:10002'}); "
            "print(json.dumps([t.uid, t.gid, os.getresuid(), os.getresgid(), os.getgroups(), os.environ['HOME']]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    uid, gid, resuid, resgid, groups, home = json.loads(out.stdout)
    assert (uid, gid) == (10001, 10002)
    assert resuid == [10001] * 3 and resgid == [10002] * 3 and groups == []
    assert home == "/nonexistent"  # no passwd entry on the host: nothing points into /root


# ------------------------------------------------------------------ the image, on the real engine

@pytest.fixture(scope="module")
def image(docker_client: docker.DockerClient) -> str:
    """The repository's image: content-tagged, so the one test_image_contracts.py built is reused."""
    return build_image(api=docker_client.api).tag


@pytest.fixture(scope="module")
def sagemaker(bundle: Bundle, image: str, docker_client: docker.DockerClient) -> Iterator[RunningCloud]:
    """Started as SageMaker starts it: as root (the image's user), `IMAGE serve`, /opt/ml/model read-only."""
    with start_cloud("sagemaker", bundle, image, client=docker_client) as running:
        yield running


def _ids(container: object) -> list[tuple[str, str]]:
    """(uid, gid) of every process in the container, as the engine sees them."""
    top = container.top(ps_args="-o pid,uid,gid,args")  # type: ignore[attr-defined]
    uid, gid = top["Titles"].index("UID"), top["Titles"].index("GID")
    return [(p[uid], p[gid]) for p in top["Processes"]]


def _exec_json(container: object, user: str, script: str) -> object:
    code, out = container.exec_run(["/opt/venv/bin/python", "-c", script], user=user)  # type: ignore[attr-defined]
    assert code == 0, out.decode(errors="replace")
    return json.loads(out)


@pytest.mark.docker
def test_started_as_root_the_server_runs_as_the_serving_user(sagemaker: RunningCloud) -> None:
    assert sagemaker.container.attrs["Config"]["User"] in ("", "root", "0")  # started as root, as SageMaker does
    ids = _ids(sagemaker.container)
    print(f"\nprocesses (uid, gid): {ids}")
    assert ids and all(i == ("10001", "10001") for i in ids)
    status = _exec_json(sagemaker.container, "0", "import json; print(json.dumps(open('/proc/1/status').read()))")
    lines = dict(line.split(":", 1) for line in str(status).splitlines() if ":" in line)
    assert lines["Uid"].split() == ["10001"] * 4 and lines["Gid"].split() == ["10001"] * 4
    assert lines["Groups"].split() == []
    assert lines["CapEff"].strip() == "0" * 16  # no capability left


_WRITE_PROBE = r"""
import json, os, stat, tempfile
trees = CODE_TREES
report = {"created": [], "writable": [], "not_root": [], "group_other_writable": [], "checked": 0}
for tree in trees:
    for root, dirs, files in os.walk(tree):
        for path in [root, *(os.path.join(root, f) for f in files)]:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            report["checked"] += 1
            if st.st_uid != 0 or st.st_gid != 0:
                report["not_root"].append(path)
            if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                report["group_other_writable"].append(path)
            if os.access(path, os.W_OK):
                report["writable"].append(path)
        try:
            with open(os.path.join(root, "modelstage-probe"), "x"):
                report["created"].append(root)
        except OSError:
            pass
with tempfile.NamedTemporaryFile(prefix="probe-") as f:  # $TMPDIR: where the runtime unpacks and downloads
    report["tmp"] = f.name
report["model_readable"] = os.access("/opt/ml/model/bundle.json", os.R_OK)
print(json.dumps(report))
""".replace("CODE_TREES", repr(CODE_TREES))


@pytest.mark.docker
def test_the_serving_user_cannot_write_the_code(sagemaker: RunningCloud) -> None:
    """Every file and folder of the virtualenv, the runtime and model/ is root's, not group/other-
    writable, and the serving uid can neither write one nor create a file in any folder; it can
    write its temp dir and read the model."""
    report = _exec_json(sagemaker.container, SERVING, _WRITE_PROBE)
    assert isinstance(report, dict)
    print(f"\nchecked {report['checked']} files and folders under {', '.join(CODE_TREES)}; temp file {report['tmp']}")
    assert report["checked"] > 1000
    for key in ("created", "writable", "not_root", "group_other_writable"):
        assert report[key] == [], (key, report[key][:10])
    assert report["model_readable"]
    for path in ("/opt/modelstage/container/runtime/server.py", "/opt/modelstage/model/bundle.py",
                 "/opt/venv/bin/python"):
        code, out = sagemaker.container.exec_run(["sh", "-c", f"echo x >> {path}"], user=SERVING)
        assert code != 0 and b"Permission denied" in out, (path, out)


@pytest.mark.docker
def test_started_as_another_uid_it_still_serves(bundle: Bundle, image: str, docker_client: docker.DockerClient) -> None:
    """`docker run --user 12345:12345` (a Kubernetes runAsUser): no switch, and /ping answers 200."""
    port = free_port()
    container = docker_client.containers.run(
        image, command=["serve"], user="12345:12345", detach=True, ports={"8080/tcp": ("127.0.0.1", port)},
        volumes={str(bundle.path.resolve()): {"bind": "/opt/ml/model", "mode": "ro"}})
    try:
        status, deadline = 0, time.monotonic() + 60
        while status != 200 and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                    status = r.status
            except OSError:
                container.reload()
                assert container.status in ("created", "running"), container.logs().decode(errors="replace")
                time.sleep(0.1)
        assert status == 200, container.logs().decode(errors="replace")
        assert all(i == ("12345", "12345") for i in _ids(container))
        report = _exec_json(container, "12345:12345", _WRITE_PROBE)
        assert isinstance(report, dict)
        assert report["created"] == [] and report["writable"] == []
    finally:
        container.remove(force=True)


@pytest.mark.docker
def test_malloc_and_run_as_are_in_the_image_env(image: str, sagemaker: RunningCloud,
                                               docker_client: docker.DockerClient) -> None:
    env = set(docker_client.images.get(image).attrs["Config"]["Env"])
    assert {"MALLOC_ARENA_MAX=2", "MALLOC_MMAP_THRESHOLD_=131072", "MALLOC_TRIM_THRESHOLD_=131072",
            f"MODELSTAGE_RUN_AS={SERVING}", "ORT_DISABLE_TELEMETRY=1"} <= env
    labels = docker_client.images.get(image).attrs["Config"]["Labels"]
    assert labels["dev.modelstage.serving-user"] == SERVING
    # ...and the serving process was started with them (glibc reads them at its start). Its
    # /proc/PID/environ is unreadable inside the container, even to root: after setuid the process is
    # no longer dumpable. The engine's host (root, same machine) can read it.
    sagemaker.container.reload()
    assert "MALLOC_ARENA_MAX=2" in sagemaker.container.attrs["Config"]["Env"]
    code, _ = sagemaker.container.exec_run(["cat", "/proc/1/environ"], user="0")
    assert code != 0
    host_environ = Path(f"/proc/{sagemaker.container.attrs['State']['Pid']}/environ")
    try:
        assert "MALLOC_ARENA_MAX=2" in host_environ.read_bytes().decode().split("\0")
    except OSError:
        print(f"\n{host_environ}: not readable here; checked the container's configured env only")
    code, out = sagemaker.container.exec_run(["getent", "passwd", "10001"])
    assert code == 0 and out.startswith(b"modelstage:x:10001:10001:"), out

"""Dropping root before the server loads a model (docs/image.md).

The image keeps `USER root` because SageMaker expects containers to run as root; Vertex AI and Azure
ML start it as the image says, so every cloud starts the entry point as root. The entry point reads
its environment, then calls `drop_privileges()`, which, when the effective uid is 0, switches the
process to the image's serving user (uid/gid 10001, "modelstage" in /etc/passwd) before anything is
downloaded, unpacked or loaded. That user owns nothing in the image: the virtualenv (/opt/venv) and
the code (/opt/modelstage) are root's and not group/other-writable, so a hostile bundle or client
that gets the process to write a file cannot change the server's code. It can still write its own
private folders under $TMPDIR (/tmp, mode 1777) and read the model mounts (world-readable).

Started as any other uid (`docker run --user 12345:12345`, a Kubernetes `runAsUser`), this is a
no-op: the process already cannot write root's files.

`MODELSTAGE_RUN_AS` chooses the target, and the image sets it (ENV MODELSTAGE_RUN_AS=10001:10001):
`UID` or `UID:GID` (numbers) = switch to it when started as root; `root` = keep root (only for a
platform whose model mount the serving user cannot read; not recommended); unset or empty = no
switch, which is what `modelstage local` and the tests get when they start the runtime on a host,
where the caller's uid is the caller's business. It is read here, not in settings.py, because it
must be applied before any other setting is acted on.

The switch cannot be undone, so it is never tested inside a test process: without Docker the tests
check the no-op paths (not root; no MODELSTAGE_RUN_AS) in-process and, only when they run as root,
the real switch in a child process; the image tests check it as each cloud starts the container
(tests/container/test_image_hardening.py).
"""

from __future__ import annotations

import os
import pwd
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass

RUN_AS_VAR = "MODELSTAGE_RUN_AS"
# Where a cloud mounts the model: the serving user must be able to read them after the switch.
_MODEL_MOUNTS = ("MODEL_DIR", "AZUREML_MODEL_DIR")
_SAGEMAKER_MODEL_DIR = "/opt/ml/model"


class PrivilegeError(RuntimeError):
    """The process could not give up root, or MODELSTAGE_RUN_AS is not understood."""


@dataclass(frozen=True)
class Target:
    uid: int
    gid: int


def target_from_env(env: Mapping[str, str]) -> Target | None:
    """The uid/gid to switch to when started as root; None = no switch (unset, empty or 'root')."""
    raw = env.get(RUN_AS_VAR, "").strip()
    if raw in ("", "root", "0", "0:0"):
        return None
    uid_s, sep, gid_s = raw.partition(":")
    try:
        uid = int(uid_s)
        gid = int(gid_s) if sep else uid
    except ValueError:
        raise PrivilegeError(f"{RUN_AS_VAR}={raw!r}: expected UID or UID:GID (numbers), or 'root'") from None
    if not (0 < uid < 2**31 and 0 < gid < 2**31):
        raise PrivilegeError(f"{RUN_AS_VAR}={raw!r}: expected a non-zero UID and GID below 2^31, or 'root'")
    return Target(uid, gid)


def drop_privileges(env: Mapping[str, str] | None = None) -> Target | None:
    """When running as root, become the serving user for good; return who we became.

    No-op (returns None) when the effective uid is not 0, or MODELSTAGE_RUN_AS is unset or 'root'. Clears the
    supplementary groups, then sets the gid and the uid (real, effective and saved: the switch cannot
    be undone), and checks that root cannot be regained. HOME is pointed at the user's passwd entry
    (or /nonexistent) so that nothing looks for files in /root."""
    env = os.environ if env is None else env
    if os.geteuid() != 0:
        return None
    target = target_from_env(env)
    if target is None:
        if env.get(RUN_AS_VAR, "").strip():
            print(f"modelstage: {RUN_AS_VAR}={env[RUN_AS_VAR]}: serving as root (not recommended)", file=sys.stderr)
        return None
    try:
        os.setgroups([])
        os.setgid(target.gid)
        os.setuid(target.uid)
    except OSError as exc:
        raise PrivilegeError(f"cannot switch to uid {target.uid} gid {target.gid}: {exc}") from None
    if os.getuid() == 0 or os.geteuid() == 0 or os.getegid() == 0 or 0 in os.getgroups():
        raise PrivilegeError(f"still root after switching to uid {target.uid} gid {target.gid}")
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise PrivilegeError("root could be regained after the switch; refusing to serve")
    try:
        home = pwd.getpwuid(target.uid).pw_dir
    except KeyError:
        home = "/nonexistent"
    os.environ["HOME"] = home
    _warn_unreadable_mounts(env, target)
    return target


def _warn_unreadable_mounts(env: Mapping[str, str], target: Target) -> None:
    """Say early and clearly when a cloud mounted the model where the serving user cannot read it."""
    paths = [env[v] for v in _MODEL_MOUNTS if env.get(v)] or [_SAGEMAKER_MODEL_DIR]
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        except PermissionError:
            st = None
        if st is None or not os.access(path, os.R_OK | os.X_OK):
            mode = f"owner {st.st_uid}:{st.st_gid}, mode {stat.filemode(st.st_mode)}" if st else "not reachable"
            print(f"modelstage: warning: {path} ({mode}) is not readable by uid {target.uid}; make it "
                  f"world-readable, or set {RUN_AS_VAR}=root", file=sys.stderr)

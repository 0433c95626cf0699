"""The bundle a stack deploys: found relative to the project root, verified, and named.

The program refuses a missing or tampered bundle before any resource is declared, and says how to
make one.
"""

# pyright: strict

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.errors import SpecError
from infra.spec import NAME_RE, DeploymentSpec
from infra.spec_keys import qualified
from model.bundle import Bundle, load_bundle
from model.errors import BundleError

PROJECT_FILE = "Pulumi.yaml"


def project_root(start: Path | None = None) -> Path:
    """The directory holding Pulumi.yaml, searched upward from `start` (default: the working directory).

    The CLI runs the program from the project directory; tests and `python -m infra.plan` may not.
    """
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / PROJECT_FILE).is_file():
            return directory
    return Path(__file__).resolve().parents[1]  # the repository this package was installed from


def load_deploy_bundle(spec: DeploymentSpec[Any], root: Path | None = None) -> Bundle:
    path = Path(spec.bundle_path)
    if not path.is_absolute():
        path = (root or project_root()) / path
    try:
        return load_bundle(path, verify_archive=True)
    except BundleError as exc:
        raise SpecError(
            f"{qualified('bundlePath')} = {spec.bundle_path!r}: {exc}\n"
            f"  Make the bundle first: `modelstage package --out {spec.bundle_path}` "
            f"(or point {qualified('bundlePath')} at an existing bundle directory)."
        ) from exc


def deployment_name(spec: DeploymentSpec[Any], bundle: Bundle, name_max: int) -> str:
    """The name every cloud resource is derived from: the configured name or <bundle>-<environment>,
    at most `name_max` characters (the cloud's limit)."""
    name = spec.name or f"{bundle.name}-{spec.environment}"
    if NAME_RE.match(name) is None or len(name) > name_max:
        raise SpecError(
            f"{qualified('name')}: the deployment name {name!r} (from the bundle name {bundle.name!r}) is not "
            f"usable; set {qualified('name')} to lowercase letters, digits and single hyphens, "
            f"at most {name_max} characters"
        )
    return name

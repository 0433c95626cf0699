"""What can go wrong building or pushing the serving image, and the progress callback every step takes.

Its own module so callers (the CLI, `infra/`) can catch these errors without importing the docker SDK.
"""

from __future__ import annotations

from collections.abc import Callable

from model.errors import ModelstageError

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """The default progress callback: say nothing."""


class BuildError(ModelstageError):
    """The serving image could not be built or pushed."""


class EngineUnavailableError(BuildError):
    """No Docker engine answers."""


class BaseImageError(BuildError):
    """The base image is neither in the engine nor pullable."""


class PushError(BuildError):
    """The registry refused the image or could not be reached."""

"""`python -m container.runtime [serve]`: the image's entry point.

SageMaker starts the container as `IMAGE serve`; Vertex AI and Azure ML start it with no
arguments. Both are accepted; anything else is refused with a usage line.
"""

from __future__ import annotations

import sys

from container.runtime.privileges import PrivilegeError, drop_privileges
from container.runtime.settings import Settings, SettingsError


def main(argv: list[str]) -> int:
    if argv not in ([], ["serve"]):
        print(f"usage: python -m container.runtime [serve]  (got {' '.join(argv)!r})", file=sys.stderr)
        return 64
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"modelstage: {exc}", file=sys.stderr)
        return 64
    try:  # root gives way to the serving user before any model is fetched or loaded (docs/image.md)
        drop_privileges()
    except PrivilegeError as exc:
        print(f"modelstage: {exc}", file=sys.stderr)
        return 70
    from container.runtime.server import serve

    return serve(settings)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

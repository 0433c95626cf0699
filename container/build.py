"""`modelstage build [--push REPO]`: build (or reuse) the serving image, then push it by digest.

The steps live in their own modules: `build_context` (sources, content hash, context tar; no docker),
`wheelhouse` (locks and wheels), `source_labels` (version, git revision and url), `engine_client`
(the docker connection), `image_build` and `image_push`; `build_errors` holds their errors.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from container.build_errors import Progress, quiet
from container.engine_client import connect
from container.image_build import BuildResult, build_image
from container.image_push import push_image


def build_and_maybe_push(push: str | None, base_image: str | None, progress: Progress = quiet, *,
                         runtime_extras: str = "", auth_config: Mapping[str, str] | None = None,
                         ) -> tuple[BuildResult, str | None]:
    """Build (or reuse) the image, then push it when `push` names a repository; one engine connection.
    auth_config (username, password) overrides the engine's stored `docker login` credentials."""
    api = connect()
    result = build_image(base_image=base_image, runtime_extras=runtime_extras, progress=progress, api=api)
    ref = push_image(result.tag, push, auth_config, progress=progress, api=api) if push else None
    return result, ref


if __name__ == "__main__":  # python -m container.build [REPO]: the same as the CLI, for scripts
    res, pushed = build_and_maybe_push(sys.argv[1] if len(sys.argv) > 1 else None,
                                       os.environ.get("MODELSTAGE_BASE_IMAGE"), print)
    print(res.tag, res.image_id, "built" if res.built else "cached", pushed or "")

"""The serving image built from container/ and pushed by digest, as a resource of `pulumi up`.

A dynamic provider over `container.image_build` and `container.image_push`: `create`/`update` build
(or reuse) the image and push it; `check`/`diff` (all a `pulumi preview` calls) never build or push.
`diff` compares only what goes into the image (a hash of the build context computed without an
engine, the base image, the extras) and the repository; the registry credentials change on every run
and never cause a diff. Clouds pass their own registry credentials, so this resource serves ECR,
Artifact Registry and ACR alike.

The image inputs come from `container.build_context`, which needs no Docker. The provider object is
serialized with dill into the state: it holds no clients, and imports the build and push modules (and
with them the docker SDK) inside its methods.
"""

# pyright: strict

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from container.build_context import DEFAULT_BASE_IMAGE, ROOT, content_hash, context_sources
from container.engine import engine_environment

# Inputs that decide the image's content and where it goes; nothing else may cause a rebuild.
CONTENT_KEYS = ("source_hash", "repository", "base_image", "runtime_extras")


def source_hash(base_image: str, runtime_extras: str, source_root: Path | None = None) -> str:
    """sha256 of the build context's sources and arguments, as an image build hashes them, but with
    the base image's name instead of its ID so no engine is needed (preview, CI without Docker)."""
    sources = context_sources(source_root or ROOT)
    return content_hash(sources, {"BASE_IMAGE": base_image, "RUNTIME_EXTRAS": runtime_extras}, base_image)


def resolve_base_image() -> str:
    """The base image a build will use: $MODELSTAGE_BASE_IMAGE (also from scripts/engine.sh's env file)."""
    return engine_environment().get("MODELSTAGE_BASE_IMAGE") or DEFAULT_BASE_IMAGE


class ImageBuildProvider(ResourceProvider):
    def _build_and_push(self, props: dict[str, Any]) -> dict[str, Any]:
        from container.image_build import build_image
        from container.image_push import push_image

        auth = {"username": str(props["username"]), "password": str(props["password"]),
                "serveraddress": str(props["registry"])}
        built = build_image(base_image=str(props["base_image"]), runtime_extras=str(props["runtime_extras"]))
        ref = push_image(built.tag, str(props["repository"]), auth_config=auth)
        # Credentials stay out of the outputs (and so out of the state in clear text).
        return {
            **{k: props[k] for k in CONTENT_KEYS},
            "image_ref": ref,
            "digest": ref.rsplit("@", 1)[1],
            "tag": built.tag,
            "content_hash": built.content_hash,
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._build_and_push(props)
        return CreateResult(id_=outs["image_ref"], outs=outs)

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        changed = [k for k in CONTENT_KEYS if _olds.get(k) != _news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[], stables=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._build_and_push(_news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # Images go with their repository (force_delete in dev) or stay (prod); deleting a digest
        # here could pull the image from under an endpoint that still serves it.
        return None


class BuiltImage(pulumi.dynamic.Resource):
    image_ref: pulumi.Output[str]  # repository@sha256:...
    digest: pulumi.Output[str]

    def __init__(self, name: str, *, repository: pulumi.Input[str], registry: pulumi.Input[str],
                 username: pulumi.Input[str], password: pulumi.Input[str], runtime_extras: str = "",
                 opts: pulumi.ResourceOptions | None = None) -> None:
        base_image = resolve_base_image()
        props: dict[str, Any] = {
            "source_hash": source_hash(base_image, runtime_extras),
            "repository": repository,
            "base_image": base_image,
            "runtime_extras": runtime_extras,
            "registry": registry,
            "username": username,
            "password": pulumi.Output.secret(password),
            "image_ref": None,
            "digest": None,
            "tag": None,
            "content_hash": None,
        }
        super().__init__(ImageBuildProvider(), name, props, opts)

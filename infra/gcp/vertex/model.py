"""A Vertex AI Model version uploaded from the bundle, as a dynamic resource (`pulumi-python:dynamic/vertex:Model`).

pulumi-gcp cannot upload a model (hashicorp/terraform-provider-google#25152). One resource is one model
*version*: the first upload creates the model under the stable `model_id`, every later bundle becomes a
new version of it (`parent_model`), and aliases such as `champion` move with it. The container spec and
the artifacts are immutable in Vertex, so changing them replaces (Pulumi creates the new version before
deleting the old one, and a deployment moves over in between); labels, aliases and the description are
updated in place.

Re-running after a failure never uploads twice: every version carries a content label (a hash of
everything that makes the version what it is, the bundle's sha256 included), and `create` adopts a
version that already has it.
"""

# pyright: strict

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from infra.gcp.names import label_value
from infra.gcp.vertex.clients import Vertex, VertexConflict, VertexError, VertexNotFound, VertexSettings

CONTENT_LABEL = "modelstage_content"
SERVING_PORT = 8080
# Inputs that make the version what it is (Vertex cannot change them on a version): a change is a new version.
REPLACE_KEYS = ("project", "region", "model_id", "artifact_uri", "image_uri", "predict_route", "health_route",
                "env", "bundle_sha256")
# Inputs Vertex changes in place.
UPDATE_KEYS = ("display_name", "labels", "version_aliases", "version_description")
INPUT_KEYS = REPLACE_KEYS + UPDATE_KEYS
OUTPUT_KEYS = ("model_name", "version_id", "versioned_name")
# Vertex's alias for the version used when none is named. Each upload takes it (as the SDK's
# is_default_version=True does), so the version being replaced is never the default one when it is deleted.
_RESERVED_ALIAS = "default"


def content_key(props: Mapping[str, Any]) -> str:
    """The hash behind the content label: equal for equal REPLACE_KEYS, whatever the order of `env`."""
    norm = normalize(props)
    blob = json.dumps({k: norm[k] for k in REPLACE_KEYS}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


def normalize(props: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs as compared by `diff`: defaults filled, maps and alias lists in a canonical order."""
    env: Mapping[str, Any] = props.get("env") or {}
    labels: Mapping[str, Any] = props.get("labels") or {}
    aliases: Sequence[Any] = props.get("version_aliases") or []
    return {
        **{k: str(props.get(k) or "") for k in ("project", "region", "model_id", "artifact_uri", "image_uri",
                                                 "bundle_sha256", "version_description")},
        "display_name": str(props.get("display_name") or props.get("model_id") or ""),
        "predict_route": str(props.get("predict_route") or "/predict"),
        "health_route": str(props.get("health_route") or "/health"),
        "env": {str(k): str(v) for k, v in sorted(env.items())},
        "labels": {str(k): label_value(str(v)) for k, v in sorted(labels.items()) if k != CONTENT_LABEL},
        "version_aliases": sorted({str(a) for a in aliases} - {_RESERVED_ALIAS}),
    }


def _names(props: Mapping[str, Any]) -> tuple[str, str]:
    parent = f"projects/{props['project']}/locations/{props['region']}"
    return parent, f"{parent}/models/{props['model_id']}"


def _labels(norm: Mapping[str, Any]) -> dict[str, str]:
    return {**norm["labels"], CONTENT_LABEL: content_key(norm)}


def _model_message(norm: Mapping[str, Any]) -> Any:
    from google.cloud.aiplatform_v1 import EnvVar, Model, ModelContainerSpec, Port

    spec = ModelContainerSpec(image_uri=norm["image_uri"], predict_route=norm["predict_route"],
                              health_route=norm["health_route"], ports=[Port(container_port=SERVING_PORT)],
                              env=[EnvVar(name=k, value=v) for k, v in norm["env"].items()])
    return Model(display_name=norm["display_name"], artifact_uri=norm["artifact_uri"], container_spec=spec,
                 labels=_labels(norm), version_aliases=[_RESERVED_ALIAS, *norm["version_aliases"]],
                 version_description=norm["version_description"])


def _outs(norm: Mapping[str, Any], model_name: str, version_id: str) -> dict[str, Any]:
    return {**norm, "model_name": model_name, "version_id": version_id,
            "versioned_name": f"{model_name}@{version_id}"}


class VertexModelProvider(ResourceProvider):
    """Upload, read, update and delete one model version. Holds settings only (it is pickled into the state)."""

    def __init__(self, settings: VertexSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or VertexSettings()

    def _vertex(self, norm: Mapping[str, Any]) -> Vertex:
        return Vertex(self.settings, norm["region"])

    def _find_version(self, vx: Vertex, model_name: str, key: str) -> Any | None:
        """The version of `model_name` carrying content label `key`, or None (also when the model is absent)."""
        try:
            pager = vx.call("list versions of", model_name, lambda: vx.models.list_model_versions(
                request={"name": model_name, "filter": f'labels.{CONTENT_LABEL}="{key}"'}, **vx.rpc))
            for version in pager:
                if dict(version.labels).get(CONTENT_LABEL) == key:
                    return version
        except VertexNotFound:
            return None
        return None

    def _model_exists(self, vx: Vertex, model_name: str) -> bool:
        try:
            vx.call("get model", model_name, lambda: vx.models.get_model(name=model_name, **vx.rpc))
            return True
        except VertexNotFound:
            return False

    def _upload(self, vx: Vertex, norm: Mapping[str, Any], parent: str, model_name: str) -> tuple[str, str]:
        key = content_key(norm)
        if self._model_exists(vx, model_name):
            found = self._find_version(vx, model_name, key)
            if found is not None:  # an earlier run uploaded it and then failed: adopt, then converge
                self._converge(vx, norm, f"{model_name}@{found.version_id}", found, take_default=True)
                return model_name, str(found.version_id)
            request: dict[str, Any] = {"parent": parent, "parent_model": model_name}
        else:
            request = {"parent": parent, "model_id": norm["model_id"]}
        request["model"] = _model_message(norm)
        result = vx.run("upload_model for", model_name,
                        lambda: vx.models.upload_model(request=request, **vx.rpc))
        return str(result.model), str(result.model_version_id)

    def _converge(self, vx: Vertex, norm: Mapping[str, Any], versioned: str, live: Any, *,
                  take_default: bool = False) -> None:
        """Make the live version's labels, description, display name and aliases what `norm` says; an adopted
        version also takes the `default` alias, as a fresh upload would (so the one it supersedes can go)."""
        from google.cloud.aiplatform_v1 import Model
        from google.protobuf.field_mask_pb2 import FieldMask

        want_labels = _labels(norm)
        paths = [p for p, now, want in (("labels", dict(live.labels), want_labels),
                                        ("version_description", live.version_description, norm["version_description"]),
                                        ("display_name", live.display_name, norm["display_name"])) if now != want]
        if paths:
            model = Model(name=versioned, labels=want_labels, version_description=norm["version_description"],
                          display_name=norm["display_name"])
            vx.call("update_model", versioned, lambda: vx.models.update_model(
                model=model, update_mask=FieldMask(paths=paths), **vx.rpc))
        keep = {_RESERVED_ALIAS} if take_default or _RESERVED_ALIAS in live.version_aliases else set[str]()
        have, want = set(live.version_aliases), set(norm["version_aliases"]) | keep
        if have != want:
            changes = sorted(want - have) + [f"-{a}" for a in sorted(have - want)]
            vx.call("merge_version_aliases", versioned, lambda: vx.models.merge_version_aliases(
                name=versioned, version_aliases=changes, **vx.rpc))

    def create(self, props: dict[str, Any]) -> CreateResult:
        norm = normalize(props)
        parent, model_name = _names(norm)
        vx = self._vertex(norm)
        try:
            name, version = self._upload(vx, norm, parent, model_name)
        except VertexConflict as exc:
            # Someone (an earlier, interrupted run) created it between our check and our upload: look again.
            found = self._find_version(vx, model_name, content_key(norm))
            if found is None:
                raise VertexError(f"{exc}; and no version of {model_name} carries this bundle's content label, "
                                  "so nothing was adopted") from None
            self._converge(vx, norm, f"{model_name}@{found.version_id}", found, take_default=True)
            name, version = model_name, str(found.version_id)
        outs = _outs(norm, name, version)
        return CreateResult(id_=outs["versioned_name"], outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        norm = normalize(props)
        vx = self._vertex(norm)
        try:
            live = vx.call("get model", id_, lambda: vx.models.get_model(name=id_, **vx.rpc))
        except VertexNotFound:
            return ReadResult(id_="", outs={})
        spec = live.container_spec
        live_props = {**norm, "display_name": live.display_name, "artifact_uri": live.artifact_uri,
                      "image_uri": spec.image_uri, "predict_route": spec.predict_route,
                      "health_route": spec.health_route, "env": {e.name: e.value for e in spec.env},
                      "labels": dict(live.labels), "version_aliases": list(live.version_aliases),
                      "version_description": live.version_description}
        model_name, version = id_.split("@", 1)
        return ReadResult(id_=id_, outs=_outs(normalize(live_props), model_name, version))

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        old, new = normalize(_olds), normalize(_news)
        changed = [k for k in INPUT_KEYS if old[k] != new[k]]
        replaces = [k for k in changed if k in REPLACE_KEYS]
        return DiffResult(changes=bool(changed), replaces=replaces, stables=["project", "region", "model_id"],
                          delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> UpdateResult:
        norm = normalize(_news)
        vx = self._vertex(norm)
        live = vx.call("get model", _id, lambda: vx.models.get_model(name=_id, **vx.rpc))
        self._converge(vx, norm, _id, live)
        model_name, version = _id.split("@", 1)
        return UpdateResult(outs=_outs(norm, model_name, version))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        norm = normalize(_props)
        vx = self._vertex(norm)
        try:
            live = vx.call("get model", _id, lambda: vx.models.get_model(name=_id, **vx.rpc))
        except VertexNotFound:
            return
        if live.deployed_models:
            where = ", ".join(f"{d.endpoint} (deployed model {d.deployed_model_id})" for d in live.deployed_models)
            raise VertexError(f"model version {_id} is still deployed to {where}: undeploy it (delete or move "
                              "the VertexDeployment serving it) before deleting the version")
        model_name = _id.split("@", 1)[0]
        versions = vx.call("list versions of", model_name, lambda: list(vx.models.list_model_versions(
            name=model_name, **vx.rpc)))
        try:
            if len(versions) <= 1:
                vx.run("delete_model", model_name, lambda: vx.models.delete_model(name=model_name, **vx.rpc))
            else:
                vx.run("delete_model_version", _id, lambda: vx.models.delete_model_version(name=_id, **vx.rpc))
        except VertexNotFound:
            return


class VertexModel(pulumi.dynamic.Resource, module="vertex", name="Model"):
    """One version of the bundle's Vertex model; outputs name it for a `VertexDeployment`."""

    model_name: pulumi.Output[str]  # projects/P/locations/R/models/ID
    version_id: pulumi.Output[str]
    versioned_name: pulumi.Output[str]  # projects/P/locations/R/models/ID@VER

    def __init__(self, name: str, *, project: pulumi.Input[str], region: pulumi.Input[str], model_id: str,
                 artifact_uri: pulumi.Input[str], image_uri: pulumi.Input[str], bundle_sha256: pulumi.Input[str],
                 display_name: str | None = None, predict_route: str = "/predict", health_route: str = "/health",
                 env: Mapping[str, pulumi.Input[str]] | None = None,
                 labels: Mapping[str, pulumi.Input[str]] | None = None, version_aliases: Sequence[str] = (),
                 version_description: str = "", settings: VertexSettings | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "project": project, "region": region, "model_id": model_id, "display_name": display_name or model_id,
            "artifact_uri": artifact_uri, "image_uri": image_uri, "bundle_sha256": bundle_sha256,
            "predict_route": predict_route, "health_route": health_route, "env": dict(env or {}),
            "labels": dict(labels or {}), "version_aliases": list(version_aliases),
            "version_description": version_description,
            **dict.fromkeys(OUTPUT_KEYS),
        }
        super().__init__(VertexModelProvider(settings), name, props, opts)

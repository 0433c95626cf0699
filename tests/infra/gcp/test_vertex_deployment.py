"""VertexDeployment's provider through the real aiplatform EndpointServiceClient (REST) against the fake Vertex:
deploy, no diff on a second run, blue/green swaps (all at once and canary), a canary rolled back by a firing
alert, scaling in place, and failure paths (a crash in the traffic update, a failed or endless deploy) that
leave no deployed model behind. The fake fails any test in which the endpoint's traffic pointed at nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import dill
import pytest

from infra.gcp.vertex.clients import VertexError, VertexSettings, VertexTimeout
from infra.gcp.vertex.deployment import CPU_METRIC, BakeContext, VertexDeploymentProvider, VertexRolloutFailed
from infra.gcp.vertex.health import MetricsHealthCheck
from infra.gcp.vertex.model import OUTPUT_KEYS, VertexModelProvider
from infra.offline.runner import run_program
from tests.infra.gcp.conftest import ENDPOINT, PROJECT, TOKEN, fake_credentials
from tests.infra.gcp.fake_vertex import FakeVertex
from tests.infra.gcp.test_vertex_model import MODEL
from tests.infra.gcp.test_vertex_model import props as model_props

SA = "serving@proj-1.iam.gserviceaccount.com"


class Alerts:
    """A health check that reports a firing alert from its `fire_on`-th call on."""

    def __init__(self, fire_on: int | None = None, reason: str = "alert 'p99 latency' is firing") -> None:
        self.fire_on, self.reason, self.seen = fire_on, reason, list[BakeContext]()

    def __call__(self, ctx: BakeContext) -> str | None:
        self.seen.append(ctx)
        return self.reason if self.fire_on is not None and len(self.seen) >= self.fire_on else None


def crash(_ctx: BakeContext) -> str | None:
    raise RuntimeError("the provider process died during the bake")


def healthy(_ctx: BakeContext) -> str | None:
    return None


@pytest.fixture
def versions(settings: VertexSettings) -> tuple[str, str]:
    """Two versions of the model, uploaded through the model provider."""
    provider = VertexModelProvider(settings)
    one = provider.create(model_props()).outs or {}
    two = provider.create(model_props(bundle_sha256="c" * 64, artifact_uri="gs://bucket/bundles/c/")).outs or {}
    return str(one["versioned_name"]), str(two["versioned_name"])


def props(model: str, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"endpoint": ENDPOINT, "model": model, "machine_type": "n1-standard-2",
                            "service_account": SA, "min_replicas": 1, "max_replicas": 3, "cpu_target": 70,
                            "display_name": "iris", "rollout": "all-at-once", "step_percent": 10,
                            "bake_seconds": 0.05, "deployed_model_id": None, "__provider": "opaque"}
    return {**base, **over}


def provider(settings: VertexSettings, health: Any = None) -> VertexDeploymentProvider:
    return VertexDeploymentProvider(settings, health_check=health, bake_poll_s=0.01)


def deploy(p: VertexDeploymentProvider, inputs: dict[str, Any]) -> dict[str, Any]:
    result = p.create(inputs)
    assert result.outs is not None and result.id == result.outs["deployed_model_id"]
    return dict(result.outs)


def serving(fake: FakeVertex) -> dict[str, int]:
    """deployed model id -> its traffic share, for every model deployed to the endpoint."""
    split = fake.traffic(ENDPOINT)
    return {i: split.get(i, 0) for i in fake.deployed(ENDPOINT)}


def test_create_deploys_with_all_the_traffic(settings: VertexSettings, fake: FakeVertex,
                                             versions: tuple[str, str]) -> None:
    outs = deploy(provider(settings), props(versions[0]))
    new = outs["deployed_model_id"]
    assert serving(fake) == {new: 100}
    live = fake.deployed(ENDPOINT)[new]
    res = live.dedicated_resources
    assert (res.machine_spec.machine_type, res.min_replica_count, res.max_replica_count) == ("n1-standard-2", 1, 3)
    assert [(s.metric_name, s.target) for s in res.autoscaling_metric_specs] == [(CPU_METRIC, 70)]
    assert live.service_account == SA
    assert [r.deployed_model_id for r in fake.versions(MODEL)["1"].deployed_models] == [new]
    assert TOKEN not in repr(outs)


def test_second_run_shows_no_diff_and_refresh_reads_the_same(settings: VertexSettings,
                                                             versions: tuple[str, str]) -> None:
    p = provider(settings)
    outs = deploy(p, props(versions[0]))
    id_ = outs["deployed_model_id"]
    assert p.diff(id_, outs, props(versions[0])).changes is False
    read = p.read(id_, outs)
    assert read.id == id_ and read.outs is not None
    assert p.diff(id_, dict(read.outs), props(versions[0])).changes is False


def test_what_changes_how(settings: VertexSettings) -> None:
    p, old = provider(settings), props("m@1")
    for key, value in (("model", "m@2"), ("machine_type", "n1-standard-4"), ("service_account", "x"),
                       ("min_replicas", 2), ("cpu_target", 50), ("rollout", "canary")):
        diff = p.diff("1", old, {**old, key: value})
        assert diff.changes and not diff.replaces, key  # all in place: blue/green happens inside update
    assert p.diff("1", old, props("m@1", endpoint="projects/p/locations/r/endpoints/9")).replaces == ["endpoint"]


def test_a_new_version_swaps_all_at_once(settings: VertexSettings, fake: FakeVertex,
                                         versions: tuple[str, str]) -> None:
    p = provider(settings)
    first = deploy(p, props(versions[0]))
    result = p.update(first["deployed_model_id"], first, props(versions[1]))
    assert result.outs is not None
    new = result.outs["deployed_model_id"]
    assert new != first["deployed_model_id"] and serving(fake) == {new: 100}
    assert fake.versions(MODEL)["1"].deployed_models == []  # the old version can now be deleted
    # The stored id stays the first deployed model's; read and delete follow the output.
    read = p.read(first["deployed_model_id"], dict(result.outs))
    assert read.outs is not None and read.outs["model"] == versions[1]


def test_canary_bakes_then_takes_everything(settings: VertexSettings, fake: FakeVertex,
                                            versions: tuple[str, str]) -> None:
    alerts = Alerts()
    p = provider(settings, alerts)
    first = deploy(p, props(versions[0], rollout="canary"))
    old = first["deployed_model_id"]
    outs = p.update(old, first, props(versions[1], rollout="canary", step_percent=25)).outs or {}
    new = outs["deployed_model_id"]
    assert serving(fake) == {new: 100}
    assert alerts.seen and alerts.seen[0].new_deployed_model_id == new and alerts.seen[0].old_deployed_model_id == old
    splits = [s for ep, s, _ in fake.traffic_history if ep == ENDPOINT]
    assert {new: 25, old: 75} in splits and splits.index({new: 25, old: 75}) < splits.index({new: 100, old: 0})


def test_canary_with_a_firing_alert_rolls_back_and_says_why(settings: VertexSettings, fake: FakeVertex,
                                                            versions: tuple[str, str]) -> None:
    p = provider(settings, Alerts(fire_on=2))
    first = deploy(p, props(versions[0]))
    old = first["deployed_model_id"]
    with pytest.raises(VertexRolloutFailed, match=r"rolled back after 10% of the traffic: alert 'p99 latency' is "
                                                  r"firing; the previous deployed model \d+ has 100% again"):
        p.update(old, first, props(versions[1], rollout="canary", bake_seconds=5))
    assert serving(fake) == {old: 100}
    assert fake.versions(MODEL)["2"].deployed_models == []  # no orphan


@pytest.mark.parametrize("rollout", ["all-at-once", "canary"])
def test_a_crash_in_the_traffic_update_after_deploy_leaves_no_orphan(
        settings: VertexSettings, fake: FakeVertex, versions: tuple[str, str], rollout: str) -> None:
    p = provider(settings, healthy)
    first = deploy(p, props(versions[0]))
    old = first["deployed_model_id"]
    fake.inject("patch_endpoint", "http500")
    with pytest.raises(VertexError, match=r"update traffic of .*endpoints/4242 failed: InternalServerError"):
        p.update(old, first, props(versions[1], rollout=rollout))
    assert serving(fake) == {old: 100}
    assert fake.versions(MODEL)["2"].deployed_models == []
    assert any(path.endswith(":deployModel") for _, path in fake.requests)  # it did deploy, then cleaned up


def test_a_crash_during_the_bake_leaves_no_orphan(settings: VertexSettings, fake: FakeVertex,
                                                  versions: tuple[str, str]) -> None:
    p = provider(settings, crash)
    first = deploy(p, props(versions[0]))
    with pytest.raises(RuntimeError, match="died during the bake"):
        p.update(first["deployed_model_id"], first, props(versions[1], rollout="canary"))
    assert serving(fake) == {first["deployed_model_id"]: 100}


def test_a_failed_deploy_changes_nothing(settings: VertexSettings, fake: FakeVertex,
                                         versions: tuple[str, str]) -> None:
    p = provider(settings)
    first = deploy(p, props(versions[0]))
    fake.inject("deploy", "op_error")
    with pytest.raises(VertexError, match=r"deploy_model to .*endpoints/4242 failed \(operation .*/operations/\d+\)"):
        p.update(first["deployed_model_id"], first, props(versions[1]))
    assert serving(fake) == {first["deployed_model_id"]: 100}


def test_a_deploy_that_never_finishes_times_out_naming_it(settings: VertexSettings, fake: FakeVertex,
                                                          versions: tuple[str, str]) -> None:
    fake.inject("deploy", "op_never")
    p = provider(dataclasses.replace(settings, lro_timeout_s=0.3))
    with pytest.raises(VertexTimeout, match=r"deploy_model to .*endpoints/4242: operation .*/operations/\d+ did not "
                                            r"finish within 0.3s") as err:
        p.create(props(versions[0]))
    assert serving(fake) == {}
    assert TOKEN not in str(err.value)


def test_create_after_a_lost_response_adopts_the_deployed_model(settings: VertexSettings, fake: FakeVertex,
                                                                versions: tuple[str, str]) -> None:
    p = provider(settings)
    lost = deploy(p, props(versions[0]))
    deploys = sum(1 for _, path in fake.requests if path.endswith(":deployModel"))
    again = deploy(p, props(versions[0]))
    assert again["deployed_model_id"] == lost["deployed_model_id"]
    assert sum(1 for _, path in fake.requests if path.endswith(":deployModel")) == deploys
    assert serving(fake) == {lost["deployed_model_id"]: 100}


def test_replicas_and_autoscaling_change_in_place(settings: VertexSettings, fake: FakeVertex,
                                                  versions: tuple[str, str]) -> None:
    p = provider(settings)
    first = deploy(p, props(versions[0]))
    id_ = first["deployed_model_id"]
    outs = p.update(id_, first, props(versions[0], min_replicas=2, max_replicas=5, cpu_target=50)).outs or {}
    assert outs["deployed_model_id"] == id_ and list(fake.deployed(ENDPOINT)) == [id_]
    res = fake.deployed(ENDPOINT)[id_].dedicated_resources
    assert (res.min_replica_count, res.max_replica_count, res.autoscaling_metric_specs[0].target) == (2, 5, 50)
    assert any(path.endswith(":mutateDeployedModel") for _, path in fake.requests)


def test_delete_undeploys_and_then_the_model_can_go(settings: VertexSettings, fake: FakeVertex,
                                                    versions: tuple[str, str]) -> None:
    p = provider(settings)
    outs = deploy(p, props(versions[0]))
    models = VertexModelProvider(settings)
    with pytest.raises(VertexError, match="still deployed"):
        models.delete(versions[0], model_props())
    p.delete(outs["deployed_model_id"], outs)
    assert serving(fake) == {} and fake.traffic(ENDPOINT) == {}
    models.delete(versions[0], {**model_props(), **dict.fromkeys(OUTPUT_KEYS)})
    assert set(fake.versions(MODEL)) == {"2"}
    p.delete(outs["deployed_model_id"], outs)  # already gone
    assert p.read(outs["deployed_model_id"], outs).id == ""


def test_delete_next_to_another_deployed_model_gives_it_the_traffic(settings: VertexSettings, fake: FakeVertex,
                                                                    versions: tuple[str, str]) -> None:
    p = provider(settings)
    mine = deploy(p, props(versions[0]))
    theirs = deploy(p, props(versions[1], display_name="other"))
    assert serving(fake) == {mine["deployed_model_id"]: 0, theirs["deployed_model_id"]: 100}
    p.delete(theirs["deployed_model_id"], theirs)
    assert serving(fake) == {mine["deployed_model_id"]: 100}


def test_check_rejects_a_bad_rollout(settings: VertexSettings) -> None:
    failures = provider(settings).check({}, props("m@1", rollout="big-bang", step_percent=0)).failures
    assert sorted(f.property for f in failures) == ["rollout", "step_percent"]


def test_errors_never_carry_the_token(settings: VertexSettings, fake: FakeVertex, versions: tuple[str, str]) -> None:
    fake.inject("get_endpoint", "http500_echo_auth", times=1)
    with pytest.raises(VertexError) as err:
        provider(settings).create(props(versions[0]))
    assert "[redacted]" in str(err.value) and TOKEN not in str(err.value)


def test_the_provider_pickles_without_a_client_or_a_token(settings: VertexSettings,
                                                          versions: tuple[str, str]) -> None:
    p = provider(settings, healthy)
    deploy(p, props(versions[0]))
    assert set(vars(p)) == {"settings", "health_check", "bake_poll_s"}
    blob = dill.dumps(p, recurse=True)
    assert b"Client" not in blob and TOKEN.encode() not in blob
    restored = dill.loads(blob)
    assert restored.health_check is healthy and restored.settings == settings


def metrics_check(settings: VertexSettings) -> MetricsHealthCheck:
    assert settings.api_endpoint is not None
    return MetricsHealthCheck(project=PROJECT, latency_p99_ms=500, error_rate_percent=1.0, window_s=60,
                              api_endpoint=settings.api_endpoint, credentials=fake_credentials, timeout_s=5)


@pytest.mark.parametrize(("metrics", "reason"), [
    ({"latency": [120.0, 900.0], "failed": [0], "total": [50]}, r"p99 latency of deployed model \d+ was 900 ms "
                                                                 r"over the last 60s \(alert threshold 500 ms\)"),
    ({"latency": [120.0], "failed": [3], "total": [100]}, r"3.0% of the predictions of deployed model \d+ failed"),
])
def test_canary_watching_its_own_metrics_rolls_back_when_they_are_bad(
        settings: VertexSettings, fake: FakeVertex, versions: tuple[str, str], metrics: dict[str, list[float]],
        reason: str) -> None:
    p = provider(settings, metrics_check(settings))
    first = deploy(p, props(versions[0]))
    fake.metrics = metrics
    with pytest.raises(VertexRolloutFailed, match=reason):
        p.update(first["deployed_model_id"], first, props(versions[1], rollout="canary"))
    assert serving(fake) == {first["deployed_model_id"]: 100}
    new_ids = {str(i) for i in range(1001, 1100)} - {first["deployed_model_id"]}
    assert any(f'deployed_model_id = "{i}"' in q for q in fake.metric_queries for i in new_ids)


def test_canary_with_good_metrics_is_promoted(settings: VertexSettings, fake: FakeVertex,
                                              versions: tuple[str, str]) -> None:
    fake.metrics = {"latency": [120.0], "failed": [0], "total": [100]}
    p = provider(settings, metrics_check(settings))
    first = deploy(p, props(versions[0]))
    outs = p.update(first["deployed_model_id"], first, props(versions[1], rollout="canary")).outs or {}
    assert serving(fake) == {outs["deployed_model_id"]: 100}


def test_unreadable_metrics_roll_the_canary_back(settings: VertexSettings, fake: FakeVertex,
                                                 versions: tuple[str, str]) -> None:
    check = dataclasses.replace(metrics_check(settings), project="no/such")
    p = provider(settings, check)
    first = deploy(p, props(versions[0]))
    with pytest.raises(VertexRolloutFailed, match="could not read the metrics") as err:
        p.update(first["deployed_model_id"], first, props(versions[1], rollout="canary"))
    assert TOKEN not in str(err.value)
    assert serving(fake) == {first["deployed_model_id"]: 100}


def test_both_resources_register_under_their_type_tokens_without_settings_or_secrets(tmp_path: Path) -> None:
    program = tmp_path / "program.py"
    program.write_text(
        "from infra.gcp.vertex.deployment import VertexDeployment\n"
        "from infra.gcp.vertex.model import VertexModel\n"
        "m = VertexModel('m', project='p', region='us-central1', model_id='iris', artifact_uri='gs://b/x/',\n"
        "                image_uri='r/i@sha256:' + 'a' * 64, bundle_sha256='b' * 64, version_aliases=['champion'])\n"
        "VertexDeployment('d', endpoint='projects/p/locations/us-central1/endpoints/1', model=m.versioned_name,\n"
        "                 machine_type='n1-standard-2', service_account='sa@p.iam.gserviceaccount.com')\n")
    recording = run_program({}, stack="test", program=program)
    dynamic = {r.typ: r for r in recording.resources if r.typ.startswith("pulumi-python:dynamic/")}
    assert sorted(dynamic) == ["pulumi-python:dynamic/vertex:Deployment", "pulumi-python:dynamic/vertex:Model"]
    model = dynamic["pulumi-python:dynamic/vertex:Model"].inputs
    assert {"artifact_uri", "image_uri", "bundle_sha256", "version_aliases", "__provider"} <= set(model)
    assert not {"settings", "credentials"} & set(model)
    deployment = dynamic["pulumi-python:dynamic/vertex:Deployment"].inputs
    assert {"endpoint", "machine_type", "rollout", "__provider"} <= set(deployment)  # model: not yet known

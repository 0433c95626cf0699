"""What each subcommand does, as calls into `model`, `container` and `infra`, plus printing."""

from __future__ import annotations

import json
import os
from pathlib import Path

from model.errors import ModelstageError


def _print_bundle(bundle_dir: Path) -> None:
    from model.bundle import load_bundle
    from model.package import describe_bundle

    print(describe_bundle(load_bundle(bundle_dir, verify_archive=True)))


def train(out: Path) -> int:
    from model.train import train_example
    from model.training_output import write_training_output

    written = write_training_output(train_example(), out)
    print(f"trained the example model; metrics on held-out rows: {json.dumps(written.metrics)}")
    print(f"wrote {written.model} (skops), {written.reference} and {written.summary}")
    print(f"package it with: modelstage package --out out/bundle --model {written.model} "
          f"--features {','.join(written.features)} --data {written.reference} --target price")
    return 0


def package(out: Path, *, model: Path | None, features: list[str] | None, data: Path | None,
            target: str | None, name: str, version: str | None, sign_key: Path | None = None) -> int:
    from model.package import package_example, package_user_model
    from model.signing import public_key_for

    public_key = public_key_for(sign_key) if sign_key else None  # a bad key fails before training
    if model is None:
        if features or data:
            raise ModelstageError("--features and --data go with --model (without --model the example is trained)")
        bundle = package_example(out, version=version, sign_key=sign_key)
    else:
        if not features:
            raise ModelstageError("--model needs --features: the model's input column names, in order")
        if data is None:
            raise ModelstageError("--model needs --data: a CSV of reference rows (header of feature names) used to "
                                  "prove the ONNX export and to record drift baselines")
        bundle = package_user_model(model, features, data, out, name=name, target=target, version=version,
                                    sign_key=sign_key)
    _print_bundle(bundle.path)
    if public_key:
        print(f"signed: give the runtime MODELSTAGE_BUNDLE_PUBLIC_KEY={public_key}")
    return 0


def serve(bundle: Path, *, host: str, port: int, workers: int) -> int:
    from model.bundle import load_bundle

    load_bundle(bundle)  # refuse a bad bundle before starting anything
    os.environ.update({"MODEL_DIR": str(bundle.resolve()), "MODELSTAGE_HOST": host, "PORT": str(port),
                       "MODELSTAGE_WORKERS": str(workers)})
    from container.runtime.server import serve as run_server
    from container.runtime.settings import Settings

    print(f"serving {bundle} on http://{host}:{port} (SageMaker /invocations, Vertex AI /predict, "
          f"Azure ML /score; health /ping; metrics /metrics); Ctrl+C stops")
    return run_server(Settings.from_env())


def demo(out: Path, *, port: int | None, engine: str) -> int:
    from modelstage.demo import run_demo

    return run_demo(out, port=port, engine=engine)


def build(*, push: str | None, base_image: str | None, runtime_extras: str = "",
          auth_config: dict[str, str] | None = None) -> int:
    from container.build import build_and_maybe_push

    result, ref = build_and_maybe_push(push, base_image, print, runtime_extras=runtime_extras,
                                       auth_config=auth_config)
    print(f"image: {result.tag} ({result.image_id}){' (unchanged)' if not result.built else ''}")
    if ref:
        print(f"pushed: {ref}")
    return 0


def local(cloud: str, bundle: Path, *, port: int | None, image: str | None, keep: bool) -> int:
    from container.local_cloud import run_as_cloud

    return run_as_cloud(cloud, bundle, port=port, image=image, keep=keep, say=print)


def smoke(stack: str, *, outputs: Path | None, bundle: Path | None, max_latency_ms: float | None,
          endpoint_url: str | None) -> int:
    from infra.smoke import run_smoke, stack_defaults

    if bundle is None or max_latency_ms is None:
        defaults = stack_defaults(stack, Path.cwd())
        bundle = bundle or defaults.bundle_path
        max_latency_ms = max_latency_ms or defaults.max_latency_ms
    result = run_smoke(stack, outputs_file=outputs, bundle_dir=bundle, max_latency_ms=max_latency_ms,
                       endpoint_url=endpoint_url)
    print(result.summary())
    return 0


def drift(bundle: Path, data: Path, *, threshold: float) -> int:
    from model.bundle import load_bundle
    from model.drift import drift_report, read_feature_csv

    b = load_bundle(bundle)
    report = drift_report(b, read_feature_csv(data, b.schema.names), threshold)
    print(report.render())
    return 1 if report.drifted else 0

"""`modelstage` subcommands. Each parses arguments and calls one function; no logic lives here."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

from model.errors import ModelstageError

Handler = Callable[[argparse.Namespace], int]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number of at least 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _non_negative(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port between 1 and 65535, got {value}")
    return value


def _features(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated feature names, got {text!r}")
    return names


def cmd_train(args: argparse.Namespace) -> int:
    from modelstage.steps import train

    return train(args.out)


def cmd_package(args: argparse.Namespace) -> int:
    from modelstage.steps import package

    return package(args.out, model=args.model, features=args.features, data=args.data, target=args.target,
                   name=args.name, version=args.version, sign_key=args.sign_key)


def cmd_serve(args: argparse.Namespace) -> int:
    from modelstage.steps import serve

    return serve(args.bundle, host=args.host, port=args.port, workers=args.workers)


def cmd_demo(args: argparse.Namespace) -> int:
    from modelstage.steps import demo

    return demo(args.out, port=args.port, engine=args.engine)


def cmd_build(args: argparse.Namespace) -> int:
    from modelstage.steps import build

    auth = None
    if args.registry_password_stdin:
        if not args.registry_username:
            raise ModelstageError("--registry-password-stdin needs --registry-username USER")
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise ModelstageError("--registry-password-stdin: expected the password on standard input, got nothing")
        auth = {"username": args.registry_username, "password": password}
    elif args.registry_username:
        raise ModelstageError("--registry-username needs --registry-password-stdin (the password is never an argument)")
    return build(push=args.push, base_image=args.base_image, runtime_extras="skops" if args.skops else "",
                 auth_config=auth)


def cmd_local(args: argparse.Namespace) -> int:
    from modelstage.steps import local

    return local(args.cloud, args.bundle, port=args.port, image=args.image, keep=args.keep)


def cmd_smoke(args: argparse.Namespace) -> int:
    from modelstage.steps import smoke

    return smoke(args.stack, outputs=args.outputs, bundle=args.bundle, max_latency_ms=args.max_latency_ms,
                 endpoint_url=args.endpoint_url)


def _report_path(text: str) -> Path | None:
    return None if text == "-" else Path(text)


def cmd_drift(args: argparse.Namespace) -> int:
    from modelstage.monitor_cmd import ThresholdFlags, drift

    if (args.current is None) == (args.data is None):
        raise ModelstageError("drift: expected --current SOURCE (or the older --data CSV), once")
    flags = ThresholdFlags(stack=args.stack, psi=args.psi_threshold, ks_distance=args.ks_threshold,
                           missing_increase=args.missing_tolerance, out_of_range=args.out_of_range_tolerance)
    return drift(args.bundle, args.current or str(args.data), flags=flags, every=args.every,
                 json_path=_report_path(args.json), html_path=_report_path(args.html))


def cmd_accuracy(args: argparse.Namespace) -> int:
    from modelstage.monitor_cmd import accuracy

    return accuracy(args.bundle, args.captured, args.labels, label_column=args.label_column,
                    tolerance=args.tolerance, every=args.every, min_rows=args.min_rows,
                    json_path=_report_path(args.json), html_path=_report_path(args.html))


def cmd_batch(args: argparse.Namespace) -> int:
    from modelstage.batch_cmd import batch

    return batch(args.bundle, args.input, args.output, errors=args.errors, input_format=args.format,
                 output_format=args.output_format, chunk_rows=args.chunk_rows, threads=args.threads)


def cmd_retrain(args: argparse.Namespace) -> int:
    from modelstage.retrain_cmd import retrain_cmd

    return retrain_cmd(args.bundle, args.data, args.out, target=args.target, tolerance=args.tolerance,
                       force=args.force, model=args.model, version=args.version, metric=args.metric,
                       report=args.report, stack=args.stack, sign_key=args.sign_key)


class _Parser(argparse.ArgumentParser):
    """A usage error is one line naming what was wrong, and where to look, not the whole usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="modelstage", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser("train", help="train the example house-price model")
    s.add_argument("--out", type=Path, required=True, help="directory for model.skops, reference.csv, train.json")
    s.set_defaults(handler=cmd_train)

    s = sub.add_parser("package", help="write a verified, reproducible model bundle")
    s.add_argument("--out", type=Path, required=True, help="bundle directory to write")
    s.add_argument("--model", type=Path,
                   help="your fitted estimator (.joblib, .pkl or .skops); default: train the example")
    s.add_argument("--features", type=_features, help="comma-separated feature names, in the model's column order")
    s.add_argument("--data", type=Path, help="CSV with a header (feature columns, optionally the target): "
                                             "reference rows for the ONNX check and drift baselines")
    s.add_argument("--target", help="name of the target column in --data (for metrics)")
    s.add_argument("--name", default="house-prices", help="model name (default: house-prices)")
    s.add_argument("--version", help="version label (default: derived from the model file's sha256)")
    s.add_argument("--sign-key", type=Path, metavar="KEY.pem",
                   help="Ed25519 private key (PEM, e.g. `openssl genpkey -algorithm ed25519 -out key.pem`): "
                        "write bundle.json.sig; the runtime checks it when MODELSTAGE_BUNDLE_PUBLIC_KEY is set")
    s.set_defaults(handler=cmd_package)

    s = sub.add_parser("serve", help="serve a bundle over HTTP on this machine")
    s.add_argument("--bundle", type=Path, required=True)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=_port, default=8080)
    s.add_argument("--workers", type=_positive_int, default=1)
    s.set_defaults(handler=cmd_serve)

    s = sub.add_parser("demo", help="the main job: train, package, serve locally, send requests, stop")
    s.add_argument("--out", type=Path, default=Path("out"), help="working directory (default: out)")
    s.add_argument("--port", type=_port, default=None, help="local port (default: a free one)")
    s.add_argument("--engine", choices=("auto", "docker", "process"), default="auto",
                   help="serve in the container (docker), in a local process, or docker when available (auto)")
    s.set_defaults(handler=cmd_demo)

    s = sub.add_parser("build", help="build the serving image (and push it by digest)")
    s.add_argument("--push", metavar="REPO", help="registry repository to push to, e.g. 127.0.0.1:5000/modelstage")
    s.add_argument("--base-image", help="base image (default: python:3.11-slim-bookworm, or MODELSTAGE_BASE_IMAGE)")
    s.add_argument("--skops", action="store_true",
                   help="add scikit-learn and skops, for bundles whose model could not be exported to ONNX")
    s.add_argument("--registry-username", metavar="USER",
                   help="push with these credentials instead of `docker login`'s (ECR: AWS)")
    s.add_argument("--registry-password-stdin", action="store_true",
                   help="read the registry password from standard input, e.g. `aws ecr get-login-password | ...`")
    s.set_defaults(handler=cmd_build)

    s = sub.add_parser("local", help="run the image the way a cloud runs it, and send the sample request")
    s.add_argument("--as", dest="cloud", choices=("sagemaker", "vertex", "azure"), required=True)
    s.add_argument("--bundle", type=Path, required=True)
    s.add_argument("--port", type=_port, default=None)
    s.add_argument("--image", help="image to run (default: build it)")
    s.add_argument("--keep", action="store_true", help="keep serving until Ctrl+C instead of stopping")
    s.set_defaults(handler=cmd_local)

    s = sub.add_parser("smoke", help="invoke a deployed stack's endpoint with the bundle's sample request")
    s.add_argument("stack", help="stack name, e.g. aws-dev or gcp-dev (the cloud comes from its outputs)")
    s.add_argument("--outputs", type=Path, help="stack outputs as JSON (default: `pulumi stack output --json`)")
    s.add_argument("--bundle", type=Path, help="the deployed bundle (default: the stack's modelstage:bundlePath)")
    s.add_argument("--max-latency-ms", type=float,
                   help="latency budget (default: the stack's modelstage:alarmLatencyP99Ms, else 2000)")
    s.add_argument("--endpoint-url", help="override the cloud API's URL: the SageMaker runtime, or the Vertex AI "
                                          "host (tests, private endpoints)")
    s.set_defaults(handler=cmd_smoke)

    sources = ("a local file or folder, s3://bucket/prefix, gs://bucket/prefix or an Azure blob URL "
               "(https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX, az://CONTAINER/PREFIX): SageMaker or "
               "modelstage captures, Vertex request-response logs exported from BigQuery, Azure ML data "
               "collection, or CSV/Parquet/JSON Lines rows (also gzipped)")
    every = ("windows over time: day, hour, auto (day when the data spans 2 days or more, else hour) "
             "or a number of rows (default: auto)")
    s = sub.add_parser("drift", help="compare captured or recent inputs and predictions with the bundle's baseline "
                                     "(PSI, KS, missing values, out of range); exit 1 on drift")
    s.add_argument("--bundle", type=Path, required=True)
    s.add_argument("--current", metavar="SOURCE", help=sources)
    s.add_argument("--data", type=Path, help=argparse.SUPPRESS)  # the older spelling of --current for a CSV
    s.add_argument("--stack", help="take the KS threshold from this stack's modelstage:driftThresholdPercent")
    s.add_argument("--psi-threshold", "--threshold", dest="psi_threshold", type=_non_negative, metavar="PSI",
                   help="PSI above which a column has drifted (default: 0.2)")
    s.add_argument("--ks-threshold", type=_fraction, metavar="D",
                   help="KS distance above which a column has drifted (default: the stack's, else 0.1)")
    s.add_argument("--missing-tolerance", type=_fraction, metavar="RATE",
                   help="missing-value rate above the baseline's by more than this is drift (default: 0.05)")
    s.add_argument("--out-of-range-tolerance", type=_fraction, metavar="RATE",
                   help="share of values outside the schema's range above which a column has drifted "
                        "(default: 0.01)")
    s.add_argument("--every", default="auto", help=every)
    s.add_argument("--json", default="drift.json", metavar="PATH",
                   help="JSON summary (default: drift.json; - for none)")
    s.add_argument("--html", default="drift.html", metavar="PATH",
                   help="HTML report with plots (default: drift.html; - for none)")
    s.set_defaults(handler=cmd_drift)

    s = sub.add_parser("accuracy", help="join delayed labels to captured predictions by inference id; metrics over "
                                        "time against the bundle's held-out metrics; exit 1 when worse")
    s.add_argument("--bundle", type=Path, required=True)
    s.add_argument("--captured", metavar="SOURCE", required=True, help=sources)
    s.add_argument("--labels", type=Path, required=True,
                   help="CSV, Parquet or JSON Lines with inference_id, the label (column named like the model's "
                        "output, or --label-column) and optionally row (position in a multi-row request, from 0)")
    s.add_argument("--label-column", help="the labels' column (default: the model's output name)")
    s.add_argument("--tolerance", type=_non_negative, default=0.1,
                   help="degraded when MAE/RMSE/MAPE exceed the bundle's by this fraction, or R2 falls by this "
                        "much (default: 0.1)")
    s.add_argument("--every", default="auto", help=every)
    s.add_argument("--min-rows", type=_positive_int, default=30,
                   help="windows with fewer labelled rows are shown but not judged (default: 30)")
    s.add_argument("--json", default="accuracy.json", metavar="PATH",
                   help="JSON summary (default: accuracy.json; - for none)")
    s.add_argument("--html", default="accuracy.html", metavar="PATH",
                   help="HTML report with accuracy and drift (default: accuracy.html; - for none)")
    s.set_defaults(handler=cmd_accuracy)

    formats = ("csv", "parquet", "jsonl")
    s = sub.add_parser("batch", help="score a CSV, Parquet or JSON Lines file with a bundle, streamed in chunks")
    s.add_argument("--bundle", type=Path, required=True)
    s.add_argument("--input", type=Path, required=True, help="rows to score (a header/columns of feature names)")
    s.add_argument("--output", type=Path, required=True, help="row number and prediction per scored row")
    s.add_argument("--errors", type=Path, help="refused rows as JSON Lines (default: OUTPUT.errors.jsonl)")
    s.add_argument("--chunk-rows", type=_positive_int, default=65_536, help="rows per chunk (default: 65536)")
    s.add_argument("--threads", type=_positive_int, help="chunks scored at once (default: one per CPU)")
    s.add_argument("--format", choices=formats, help="the input's format (default: from its suffix)")
    s.add_argument("--output-format", choices=formats,
                   help="the output's format (default: from its suffix, else the input's)")
    s.set_defaults(handler=cmd_batch)

    s = sub.add_parser("retrain", help="train a challenger on new labelled data with the bundle's pipeline; write a "
                                       "new bundle only if it is as good as the current model on a holdout (exit 1 "
                                       "when refused)")
    s.add_argument("--bundle", type=Path, required=True, help="the current bundle (the champion; never modified)")
    s.add_argument("--data", type=Path, required=True,
                   help="new labelled rows, CSV or Parquet: the bundle's feature columns and the target; a seeded "
                        "80/20 split trains the challenger and scores both models on the same holdout")
    s.add_argument("--target", help="the target column (default: the one recorded at packaging, else the output name)")
    s.add_argument("--out", type=Path, required=True, help="new bundle directory to write (must not exist)")
    s.add_argument("--model", type=Path, metavar="ORIGINAL.joblib|.skops",
                   help="the estimator you packaged (bundles of your own model): cloned and trained again, after "
                        "checking it is the packaged one; not needed for the example")
    s.add_argument("--metric", choices=("rmse", "mae", "mape", "r2"),
                   help="the deciding metric (default: bundle.json's training.metric, else rmse)")
    s.add_argument("--tolerance", type=_non_negative, default=0.0,
                   help="accept when challenger <= champion * (1 + T) for rmse/mae/mape, or challenger >= "
                        "champion - T for r2 (default: 0, at least as good)")
    s.add_argument("--force", action="store_true", help="write the challenger even when it is refused")
    s.add_argument("--version", help="the new version label (default: derived from the new model's sha256)")
    s.add_argument("--report", metavar="PATH",
                   help="JSON comparison report (default: retrain-report.json next to --out; - for none)")
    s.add_argument("--stack", help="the stack named in the printed rollout commands")
    s.add_argument("--sign-key", type=Path, metavar="KEY.pem", help="sign the new bundle (as `package --sign-key`)")
    s.set_defaults(handler=cmd_retrain)
    return p


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    handler: Handler = args.handler
    previous = None
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (a CI runner's or a supervisor's stop) unwinds like Ctrl+C, so containers and
        # servers started by this command are stopped on the way out.
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return handler(args)
    except ModelstageError as exc:
        print(f"modelstage: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("modelstage: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)

"""Two reference apps that split modelstage's cost per request in two, on the same server stack.

- `model_only`: the least any server of this model can do: parse the JSON, fill the row (defaults
  from the bundle, no validation), run the bundle's ONNX model through modelstage's predictor,
  answer. Its req/s is the ceiling for any app that calls this model once per request.
- `without_model`: modelstage's own server and handler (routing, envelopes, validation, metrics)
  with the model replaced by a constant, i.e. what the request path costs when the model is free.

Both read the bundle from MODEL_DIR. `model_only` is a uvicorn factory (`--factory`); `without_model`
runs on modelstage's server: `python -m benchmarks.reference_apps without_model PORT`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import orjson

from benchmarks.const_app import Message, Receive, Send, lifespan

if TYPE_CHECKING:
    from container.runtime.app import ServingApp

App = Callable[[Message, Receive, Send], Awaitable[None]]


def _bundle_dir() -> Path:
    return Path(os.environ["MODEL_DIR"])


def model_only() -> App:
    from model.bundle import load_bundle
    from model.predictor import load_predictor

    bundle = load_bundle(_bundle_dir())
    predictor = load_predictor(bundle.model_path, bundle.model_format, bundle.trusted_types)
    defaults = np.array([f.default for f in bundle.schema.features], dtype=np.float64)  # as the seed's row
    key = bundle.schema.output.name
    health = orjson.dumps({"status": "ready"})

    async def app(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        body = b""
        if scope["method"] == "POST":
            values = orjson.loads((await receive())["body"])["input"]
            row = defaults.copy()
            row[: len(values)] = values
            body = orjson.dumps({key: round(float(predictor.predict(row.reshape(1, -1))[0]), 2)})
        body = body or health
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


class ConstantPredictor:
    """The model's stand-in for `without_model`: the same value for every row."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), 250_000.0)


def without_model(port: int = 8080) -> ServingApp:
    """modelstage's handler over a constant model (load it with `.start_loading().join()`)."""
    from container.runtime.app import ServingApp
    from container.runtime.settings import Settings
    from model.bundle import load_bundle
    from model.scoring import Scorer

    bundle_dir = _bundle_dir()
    settings = Settings.from_env({"MODEL_DIR": str(bundle_dir), "MODELSTAGE_HOST": "127.0.0.1", "PORT": str(port)})
    return ServingApp(settings, lambda: Scorer(load_bundle(bundle_dir), predictor=ConstantPredictor()),
                      load_before_serving=True)


def serve_without_model(port: int) -> int:
    from container.runtime.server import bind, run

    app = without_model(port)
    return run(app, bind(app.settings), app.settings.graceful_timeout)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "without_model" or not sys.argv[2].isdigit():
        sys.exit("usage: python -m benchmarks.reference_apps without_model PORT")
    sys.exit(serve_without_model(int(sys.argv[2])))

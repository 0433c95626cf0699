"""`modelstage smoke` on AWS: the sample request through the SageMaker runtime API, as any client calls it."""

# pyright: strict, reportMissingTypeStubs=false, reportUnknownMemberType=false, reportUnknownVariableType=false
# (boto3 and botocore ship no type stubs; their objects are handled as Any)

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from infra.errors import SmokeFailed
from infra.outputs import ENDPOINT_NAME, REGION


def invoker(outputs: Mapping[str, Any], *, timeout_s: float, endpoint_url: str | None) -> Callable[[bytes], bytes]:
    """A function that posts a JSON body to the stack's endpoint and returns the answer's body.
    One attempt per call (no retries: the smoke test judges the endpoint, not the network)."""
    import boto3
    from botocore.config import Config

    endpoint, region = str(outputs[ENDPOINT_NAME]), str(outputs[REGION])
    client = boto3.client("sagemaker-runtime", region_name=region, endpoint_url=endpoint_url,
                          config=Config(connect_timeout=timeout_s, read_timeout=timeout_s,
                                        retries={"max_attempts": 1, "mode": "standard"}))

    def send(body: bytes) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

        try:
            response = client.invoke_endpoint(EndpointName=endpoint, ContentType="application/json",
                                              Accept="application/json", Body=body)
            payload: bytes = response["Body"].read()
        except ReadTimeoutError as exc:
            raise SmokeFailed(f"{endpoint} did not answer within the read timeout ({exc})") from exc
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise SmokeFailed(f"{endpoint} refused the sample request: {error.get('Code', '?')}: "
                              f"{error.get('Message', exc)}") from exc
        except BotoCoreError as exc:
            raise SmokeFailed(f"{endpoint} could not be reached: {exc}") from exc
        return payload

    return send

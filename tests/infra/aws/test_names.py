"""Names, URLs and ARNs derived from the deployment name and region."""

from __future__ import annotations

import pytest

from infra.aws import names


@pytest.mark.parametrize(("region", "partition", "url"), [
    ("eu-west-1", "aws", "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/ep/invocations"),
    ("cn-north-1", "aws-cn", "https://runtime.sagemaker.cn-north-1.amazonaws.com.cn/endpoints/ep/invocations"),
    ("us-gov-west-1", "aws-us-gov", "https://runtime.sagemaker.us-gov-west-1.amazonaws.com/endpoints/ep/invocations"),
])
def test_partition_and_invoke_url_follow_the_region(region: str, partition: str, url: str) -> None:
    assert names.partition(region) == partition
    assert names.invoke_url(region, "ep") == url


@pytest.mark.parametrize("image", [
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/runtime@sha256:" + "a" * 64,
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/runtime:1.2",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/runtime",
])
def test_the_repository_arn_of_an_ecr_image(image: str) -> None:
    assert names.ecr_repository_arn(image, "aws") == "arn:aws:ecr:eu-west-1:123456789012:repository/team/runtime"


def test_the_model_monitor_image_is_known_per_region() -> None:
    assert names.model_monitor_image("us-east-1") == (
        "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer")
    assert names.model_monitor_image("xx-nowhere-1") is None

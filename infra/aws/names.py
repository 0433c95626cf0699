"""Names, keys and ARNs of the AWS deployment, as pure functions of the deployment name and region.

Fixed names (the endpoint, its log group, alarms) let alarms, autoscaling and the smoke test refer
to the endpoint before it exists; resources that must change name on replacement (model, endpoint
config) are left to Pulumi's auto-naming.
"""

# pyright: strict

from __future__ import annotations

VARIANT = "AllTraffic"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
SCALING_METRIC = "SageMakerVariantInvocationsPerInstance"
METRICS_NAMESPACE = "AWS/SageMaker"
# Where the prebuilt Model Monitor container publishes per-feature metrics for endpoints. (AWS docs
# disagree on this page; this is the namespace and dimensions the analyzer's sample notebooks read.)
DATA_METRICS_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
MONITOR_REPOSITORY = "sagemaker-model-monitor-analyzer"
# AWS accounts that own the Model Monitor analyzer image per region (sagemaker-python-sdk,
# src/sagemaker/image_uri_config/model-monitor.json). Other regions: set awsModelMonitorImage.
MONITOR_IMAGE_ACCOUNTS = {
    "ap-east-1": "001633400207", "ap-northeast-1": "574779866223", "ap-northeast-2": "709848358524",
    "ap-south-1": "126357580389", "ap-southeast-1": "245545462676", "ap-southeast-2": "563025443158",
    "ca-central-1": "536280801234", "cn-north-1": "453000072557", "cn-northwest-1": "453252182341",
    "eu-central-1": "048819808253", "eu-north-1": "895015795356", "eu-west-1": "468650794304",
    "eu-west-2": "749857270468", "eu-west-3": "680080141114", "me-south-1": "607024016150",
    "sa-east-1": "539772159869", "us-east-1": "156813124566", "us-east-2": "777275614652",
    "us-west-1": "890145073186", "us-west-2": "159807026194",
}


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def dns_suffix(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def invoke_url(region: str, endpoint: str) -> str:
    return f"https://runtime.sagemaker.{region}.{dns_suffix(region)}/endpoints/{endpoint}/invocations"


def endpoint_log_group(endpoint: str) -> str:
    return f"/aws/sagemaker/Endpoints/{endpoint}"


def error_rate_alarm(endpoint: str) -> str:
    return f"{endpoint}-5xx-error-rate"


def latency_alarm(endpoint: str) -> str:
    return f"{endpoint}-p99-model-latency"


def rollback_alarms(endpoint: str) -> list[str]:
    """The alarms a rollout watches (alarms.py creates them; the execution role must read them)."""
    return [error_rate_alarm(endpoint), latency_alarm(endpoint)]


def model_monitor_image(region: str) -> str | None:
    account = MONITOR_IMAGE_ACCOUNTS.get(region)
    if account is None:
        return None
    return f"{account}.dkr.ecr.{region}.{dns_suffix(region)}/{MONITOR_REPOSITORY}"


def ecr_repository_arn(image: str, partition_name: str) -> str:
    """`<account>.dkr.ecr.<region>.amazonaws.com/<repo>[@sha256:..|:tag]` -> the repository's ARN."""
    registry, _, rest = image.partition("/")
    account, _, tail = registry.partition(".dkr.ecr.")
    region = tail.split(".", 1)[0]
    repository = rest.split("@", 1)[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]
    return f"arn:{partition_name}:ecr:{region}:{account}:repository/{repository}"

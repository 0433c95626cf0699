"""Names, keys and ARNs of the AWS deployment, as pure functions of the deployment name and region.

Fixed names (the endpoint, its log group, alarms) let alarms, autoscaling and the smoke test refer
to the endpoint before it exists; resources that must change name on replacement (model, endpoint
config) are left to Pulumi's auto-naming.
"""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass

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


def autoscaling_resource_id(endpoint: str, variant: str = VARIANT) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


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


@dataclass(frozen=True)
class Layout:
    """Key prefixes in the artifact bucket. Model files are content-addressed: a version is immutable."""

    name: str  # deployment name
    model: str  # bundle name
    archive_sha256: str

    @property
    def model_prefix(self) -> str:
        return f"models/{self.model}/"

    @property
    def version_prefix(self) -> str:
        return f"{self.model_prefix}{self.archive_sha256}/"

    @property
    def archive_key(self) -> str:
        return f"{self.version_prefix}model.tar.gz"

    @property
    def metrics_key(self) -> str:
        return f"{self.version_prefix}metrics.json"

    @property
    def baseline_prefix(self) -> str:
        return f"monitoring/{self.name}/baseline/{self.archive_sha256}/"

    @property
    def capture_prefix(self) -> str:
        return f"datacapture/{self.name}/"

    @property
    def reports_prefix(self) -> str:
        return f"monitoring-reports/{self.name}/"

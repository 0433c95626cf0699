"""Names as the real providers make them, in place of the mocks' names, before any length or pattern check.

- Pulumi auto-naming: when a resource's name input is absent, pulumi-aws and aws-native name it
  `<logical name>-<7 random characters>`.
- Terraform's `name_prefix` (pulumi-aws `namePrefix`, `bucketPrefix`): the prefix plus 26 characters
  (`id.PrefixedUniqueId`: a timestamp and a counter).

The mocks (infra/aws/offline.py) append "0000000" instead, to the logical name plus "-" or to the
prefix. `real_inputs` puts the real-length name into the resource's own name input and replaces every
mock name, wherever a recorded input quotes it (an ARN, a bucket in an S3 URI, a role name), by the
real-length one.
"""

# pyright: strict

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.offline.recording import Registration

MOCK_SUFFIX = "0000000"  # what infra/aws/offline.py appends
AUTO_SUFFIX = "abcdefg"  # 7 characters, as Pulumi's auto-naming appends them (after a "-")
PREFIX_SUFFIX = "0123456789abcdefghijklmnop"  # 26 characters, as Terraform's name_prefix appends them


@dataclass(frozen=True)
class NameRule:
    input: str  # the input that holds the name
    prefix: str | None = "namePrefix"  # the input that holds a prefix (None: the type has none)
    auto: bool = True  # the provider names the resource itself when both are absent


NAMES: Mapping[str, NameRule] = {
    "aws:s3/bucket:Bucket": NameRule("bucket", "bucketPrefix"),
    "aws:iam/role:Role": NameRule("name"),
    "aws:iam/rolePolicy:RolePolicy": NameRule("name"),
    "aws:iam/policy:Policy": NameRule("name"),
    "aws:sns/topic:Topic": NameRule("name"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": NameRule("name", None),
    "aws:cloudwatch/logGroup:LogGroup": NameRule("name"),
    "aws:ecr/repository:Repository": NameRule("name", None),
    "aws:kms/alias:Alias": NameRule("name", auto=False),
    "aws:sagemaker/model:Model": NameRule("name", None),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": NameRule("name"),
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": NameRule("modelPackageGroupName", None),
    "aws:sagemaker/pipeline:Pipeline": NameRule("pipelineName", None),
    "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition": NameRule("name", None),
    "aws:sagemaker/monitoringSchedule:MonitoringSchedule": NameRule("name", None),
    "aws:scheduler/schedule:Schedule": NameRule("name"),
    "aws:appautoscaling/policy:Policy": NameRule("name", None, auto=False),
    "aws-native:sagemaker:Endpoint": NameRule("endpointName", None),
    "aws-native:sagemaker:Model": NameRule("modelName", None),
    "aws-native:sagemaker:EndpointConfig": NameRule("endpointConfigName", None),
}


def real_name(typ: str, logical: str, inputs: Mapping[str, Any]) -> tuple[str, str] | None:
    """(mock name, real-length name) of a resource the provider names itself; None when the program
    names it (or the type is not auto-named)."""
    rule = NAMES.get(typ)
    if rule is None or inputs.get(rule.input):
        return None
    prefix = inputs.get(rule.prefix) if rule.prefix else None
    if isinstance(prefix, str) and prefix:
        return prefix + MOCK_SUFFIX, prefix + PREFIX_SUFFIX
    if rule.auto:
        return f"{logical}-{MOCK_SUFFIX}", f"{logical}-{AUTO_SUFFIX}"
    return None


@dataclass(frozen=True)
class RealNames:
    """The real-length names of every auto-named resource of a recording, by mock name."""

    by_mock: Mapping[str, str]

    def inputs(self, typ: str, logical: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The resource's inputs with its own name input set and every quoted mock name replaced."""
        out: dict[str, Any] = {k: self._replace(v) for k, v in inputs.items()}
        named = real_name(typ, logical, inputs)
        rule = NAMES.get(typ)
        if named is not None and rule is not None:
            out[rule.input] = named[1]
            if rule.prefix:
                out.pop(rule.prefix, None)
        return out

    def _replace(self, value: Any) -> Any:
        if isinstance(value, str):
            for mock in sorted(self.by_mock, key=len, reverse=True):
                if mock in value:
                    value = value.replace(mock, self.by_mock[mock])
            return value
        if isinstance(value, dict):
            return {k: self._replace(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
        if isinstance(value, list):
            return [self._replace(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
        return value


def real_names(resources: Sequence[Registration]) -> RealNames:
    found: dict[str, str] = {}
    for r in resources:
        named = real_name(r.typ, r.name, r.inputs)
        if named is not None:
            found[named[0]] = named[1]
    return RealNames(found)

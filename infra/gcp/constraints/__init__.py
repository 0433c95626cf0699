"""GCP's own published constraints on the recorded inputs of a stack, for the offline harness
(`infra.offline.constraints`):

- `vertex.VertexRequestCheck`: the Vertex dynamic resources' requests (and the batch job a scheduler
  job creates), built by the providers' own functions as aiplatform_v1 protos, against the Vertex API's
  documented rules;
- `discovery.DiscoveryCheck`: pulumi-gcp resources against Google's API discovery documents (shipped
  by google-api-python-client) and the rules the API references state in prose (`rules`), per
  `discovery_map.TYPES`;
- `iam.IamRoleCheck`: every role granted (it exists, it is grantable where it is bound) and every
  custom role's permissions, against the roles catalogue shipped in `data/`;

all with names as pulumi-gcp makes them (`names`), not as the mocks do. Only the tests use it: it
needs the `dev` extra (google-api-python-client), which `pulumi up` does not.
"""

# pyright: strict

from __future__ import annotations

from infra.gcp.constraints.discovery import DiscoveryCheck
from infra.gcp.constraints.iam import IamRoleCheck
from infra.gcp.constraints.vertex import VertexRequestCheck
from infra.offline.constraints import ConstraintCheck


def gcp_checks(region: str) -> list[ConstraintCheck]:
    """The checks for a stack in `region` (the same everywhere: GCP's schemas do not vary by region)."""
    del region
    return [VertexRequestCheck(), DiscoveryCheck(), IamRoleCheck()]


__all__ = ["DiscoveryCheck", "IamRoleCheck", "VertexRequestCheck", "gcp_checks"]

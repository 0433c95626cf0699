"""What `protected` (prod) means for a resource, in one place for every cloud.

Stores of record (model bucket, its key, the image registry, the model registry group) are protected
(an update that would replace or delete them fails) and retained (`pulumi destroy` forgets them but
leaves them in the cloud). Model versions are replaced by every new bundle, so protecting them would
block updates; they are retained, so the superseded version stays in the registry and the bucket.
"""

# pyright: strict

from __future__ import annotations

import pulumi


def store_of_record(protected: bool) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(protect=protected, retain_on_delete=protected)


def model_version(protected: bool) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(retain_on_delete=protected)

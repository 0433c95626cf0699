"""The Pulumi program: the deployment spec, one package per cloud, the smoke test and offline plans."""

# pyright: strict

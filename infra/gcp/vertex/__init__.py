"""Vertex AI resources that no Pulumi provider declares (model versions, deployed models and their
traffic), as dynamic providers over the raw google-cloud-aiplatform GAPIC clients."""

"""The GCP Vertex AI deployment."""

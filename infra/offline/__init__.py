"""Running the Pulumi program without the Pulumi CLI: stack config as the CLI merges it, mocks that
record every registration, and the human-readable plans rendered from those records."""

# pyright: strict

"""The `modelstage` command line: a thin shell over `model`, `container` and `infra`."""

"""Benchmarks that print figures (not tests): `python benchmarks/serving.py --help`."""

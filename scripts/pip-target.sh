# Sourced by lock.sh and wheelhouse.sh: the serving image's platform, as `pip download` flags.
# The image runs CPython 3.11 on glibc >= 2.36 (Debian bookworm), x86_64; wheels only, never sdists.
# shellcheck shell=bash disable=SC2034
PIP_TARGET_ARGS=(
  --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
  --platform any
)

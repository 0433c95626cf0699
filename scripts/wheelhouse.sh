#!/usr/bin/env bash
# Download the serving image's wheels (linux x86_64, CPython 3.11) into a wheelhouse on the host.
# pip inside a build container cannot reach PyPI, so the Dockerfile installs only from this directory.
#
#   scripts/wheelhouse.sh [--skops] [DIR]     DIR defaults to $MODELSTAGE_WHEELHOUSE or .modelstage/wheelhouse
#   --skops also fetches container/requirements-skops.txt (scikit-learn, scipy, skops, ...).
# Idempotent: wheels already present are hash-checked, not downloaded again.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY="${PYTHON:-$ROOT/.venv/bin/python}"
# shellcheck source=scripts/pip-target.sh
source "$ROOT/scripts/pip-target.sh"

locks=("$ROOT/container/requirements.txt")
if [[ "${1:-}" == --skops ]]; then locks+=("$ROOT/container/requirements-skops.txt"); shift; fi
DIR="${1:-${MODELSTAGE_WHEELHOUSE:-$ROOT/.modelstage/wheelhouse}}"
mkdir -p "$DIR"

for lock in "${locks[@]}"; do
  # --no-deps: the lock already lists the whole closure; --require-hashes: each file must match it.
  "$PY" -m pip download -q --no-deps --require-hashes "${PIP_TARGET_ARGS[@]}" -d "$DIR" -r "$lock"
done
echo "$DIR: $(find "$DIR" -name '*.whl' | wc -l) wheels, $(du -sh "$DIR" | cut -f1)"

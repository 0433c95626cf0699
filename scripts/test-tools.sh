#!/usr/bin/env bash
# Tools the tests drive for real, installed when missing (idempotent):
#   Chromium   Debian's package: the drift and accuracy HTML reports are opened in it headless
#   Azurite    the Azure Blob emulator, from npm (3.35: 3.37 needs node 22), into $MODELSTAGE_TOOLS_DIR
#
# State: $MODELSTAGE_TOOLS_DIR (default /var/tmp/modelstage-tools); the tests find
# azurite-blob at $MODELSTAGE_TOOLS_DIR/node_modules/.bin/azurite-blob.
set -euo pipefail

TOOLS="${MODELSTAGE_TOOLS_DIR:-/var/tmp/modelstage-tools}"
AZURITE_VERSION=3.35.0

log() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] error: %s\n' "$*" >&2; exit 1; }

if ! command -v chromium >/dev/null; then
  [[ $(id -u) == 0 ]] || die "need root to install chromium (apt-get install -y chromium)"
  log "installing Debian's chromium"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
fi

if [[ ! -x "$TOOLS/node_modules/.bin/azurite-blob" ]]; then
  command -v npm >/dev/null || die "npm not found: Azurite is installed with npm"
  log "installing azurite@$AZURITE_VERSION into $TOOLS"
  mkdir -p "$TOOLS"
  timeout 600 npm install --silent --no-audit --no-fund --prefix "$TOOLS" "azurite@$AZURITE_VERSION" >&2 \
    || die "npm install azurite@$AZURITE_VERSION failed"
fi
log "chromium: $(command -v chromium); azurite-blob: $TOOLS/node_modules/.bin/azurite-blob"

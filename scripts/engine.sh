#!/usr/bin/env bash
# A private Docker engine, the local base image and a local registry, for machines without Docker Hub.
#
#   scripts/engine.sh          start (idempotent): dockerd, modelstage/base:bookworm, registry on 127.0.0.1
#   scripts/engine.sh stop     stop the dockerd and registry this script started (by their pid files)
#   scripts/engine.sh status   say what is running
#
# State lives in $MODELSTAGE_ENGINE_DIR (default /var/tmp/modelstage-engine); `source $STATE/env` afterwards.
# Docker commands here use Debian's 20.10 CLI (/usr/bin/docker), the engine's own version. The newer
# /usr/local/bin/docker (28.x, first on PATH) also works here: it negotiates API 1.41 and falls back to
# the legacy builder; with DOCKER_BUILDKIT=1 only /usr/bin/docker builds (28.x wants buildx).
set -euo pipefail

STATE="${MODELSTAGE_ENGINE_DIR:-/var/tmp/modelstage-engine}"
SOCK="$STATE/docker.sock"
DOCKER_PID="$STATE/dockerd.pid"
REG_PID="$STATE/registry.pid"
REG_PORT="${MODELSTAGE_REGISTRY_PORT:-5000}"
REGISTRY="127.0.0.1:$REG_PORT"
BASE_IMAGE="${MODELSTAGE_BASE_IMAGE:-modelstage/base:bookworm}"
DOCKER=/usr/bin/docker
READY_TIMEOUT="${MODELSTAGE_ENGINE_TIMEOUT:-60}"  # seconds to wait for dockerd / registry to answer

log() { printf '[engine] %s\n' "$*" >&2; }
die() { printf '[engine] error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
dk() { "$DOCKER" -H "unix://$SOCK" "$@"; }
registry_up() { curl -fsS -m 2 "http://$REGISTRY/v2/" >/dev/null 2>&1; }

# Stop one daemon by its pid file: SIGTERM, then wait (bounded), then SIGKILL.
stop_pid() {
  local name=$1 pidfile=$2 pid i
  if ! alive "$pidfile"; then log "$name: not running"; rm -f "$pidfile"; return 0; fi
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then log "$name: still up after 20 s, SIGKILL"; kill -KILL "$pid"; fi
  rm -f "$pidfile"
  log "$name: stopped (pid $pid)"
}

install_packages() {
  local missing=()
  command -v dockerd >/dev/null && [[ -x "$DOCKER" ]] || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  ((${#missing[@]})) || return 0
  [[ $(id -u) == 0 ]] || die "need root to install ${missing[*]} (apt-get install -y ${missing[*]})"
  local t; t=$(now)
  log "installing ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  log "installed in $(since "$t") s"
}

start_dockerd() {
  if alive "$DOCKER_PID" && dk version >/dev/null 2>&1; then log "dockerd: running (pid $(cat "$DOCKER_PID"))"; return; fi
  local other; other=$(pgrep -x dockerd | paste -sd, - || true)
  # Two engines with the default bridge would fight over docker0 and its iptables rules.
  [[ -z "$other" ]] || die "another dockerd is running (pid $other): set DOCKER_HOST to it, or stop it first"
  rm -f "$DOCKER_PID" "$SOCK"
  local t i; t=$(now)
  # setsid: the engine outlives this script's shell and its job's process group.
  setsid dockerd --storage-driver=overlay2 --data-root "$STATE/data" --exec-root "$STATE/exec" \
    -H "unix://$SOCK" --pidfile "$DOCKER_PID" >>"$STATE/dockerd.log" 2>&1 </dev/null &
  for ((i = 0; i < READY_TIMEOUT * 5; i++)); do
    dk version >/dev/null 2>&1 && { log "dockerd: ready in $(since "$t") s (log $STATE/dockerd.log)"; return; }
    kill -0 $! 2>/dev/null || break
    sleep 0.2
  done
  tail -n 20 "$STATE/dockerd.log" >&2 || true
  die "dockerd did not answer on $SOCK within ${READY_TIMEOUT} s (log above)"
}

# Debian's own mirror, as configured for apt (deb822 first, then the one-line format).
debian_mirror() {
  local m=""
  [[ -r /etc/apt/sources.list.d/debian.sources ]] &&
    m=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  [[ -z "$m" && -r /etc/apt/sources.list ]] &&
    m=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list)
  echo "${m:-http://deb.debian.org/debian}"
}

build_base_image() {
  if dk image inspect "$BASE_IMAGE" >/dev/null 2>&1; then log "base image: $BASE_IMAGE present"; return; fi
  local t rootfs mirror; t=$(now)
  rootfs="$STATE/rootfs"
  mirror=$(debian_mirror)
  rm -rf "$rootfs"
  log "base image: debootstrap bookworm from $mirror (about a minute)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$STATE/debootstrap.log" 2>&1 ||
    { tail -n 20 "$STATE/debootstrap.log" >&2; die "debootstrap failed (log $STATE/debootstrap.log)"; }
  # Size: package caches, lists, docs and locales are never used at run time.
  rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/var/log/* "$rootfs"/tmp/*
  tar --numeric-owner -C "$rootfs" -c . | dk import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
  log "base image: $BASE_IMAGE built in $(since "$t") s ($(dk image inspect -f '{{.Size}}' "$BASE_IMAGE" |
    awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

start_registry() {
  if alive "$REG_PID" && registry_up; then log "registry: running on $REGISTRY (pid $(cat "$REG_PID"))"; return; fi
  registry_up && die "something else answers on $REGISTRY; stop it or set MODELSTAGE_REGISTRY_PORT"
  # Our own config: the packaged one listens on all interfaces and turns on auth.
  mkdir -p "$STATE/registry"
  cat >"$STATE/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY
EOF
  local t i; t=$(now)
  setsid docker-registry serve "$STATE/registry.yml" >>"$STATE/registry.log" 2>&1 </dev/null &
  echo $! >"$REG_PID"
  for ((i = 0; i < READY_TIMEOUT * 5; i++)); do
    registry_up && { log "registry: ready on $REGISTRY in $(since "$t") s"; return; }
    kill -0 "$(cat "$REG_PID")" 2>/dev/null || break
    sleep 0.2
  done
  tail -n 20 "$STATE/registry.log" >&2 || true
  die "registry did not answer on $REGISTRY within ${READY_TIMEOUT} s"
}

write_env() {
  cat >"$STATE/env" <<EOF
export DOCKER_HOST=unix://$SOCK
export MODELSTAGE_REGISTRY=$REGISTRY
export MODELSTAGE_BASE_IMAGE=$BASE_IMAGE
EOF
  cat "$STATE/env"
}

case "${1:-start}" in
  start)
    mkdir -p "$STATE"
    t0=$(now)
    install_packages
    start_dockerd
    build_base_image
    start_registry
    log "ready in $(since "$t0") s; env file $STATE/env"
    write_env
    ;;
  stop)
    stop_pid registry "$REG_PID"
    stop_pid dockerd "$DOCKER_PID"
    ;;
  status)
    if alive "$DOCKER_PID"; then echo "dockerd: pid $(cat "$DOCKER_PID"), unix://$SOCK"; else echo "dockerd: stopped"; fi
    if alive "$REG_PID"; then echo "registry: pid $(cat "$REG_PID"), $REGISTRY"; else echo "registry: stopped"; fi
    ;;
  *) die "usage: $0 [start|stop|status]" ;;
esac

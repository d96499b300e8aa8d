# Helpers sourced by scripts/infra, scripts/run and scripts/test. Not meant to be run directly.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INFRA_DIR="${INFRA_DIR:-$ROOT/.infra}"

# Addresses of the local infrastructure; the services' configuration/base.yaml uses the same ones.
PG_PORT="${PG_PORT:-5432}"
PG_USER="${PG_USER:-app}"
PG_PASSWORD="${PG_PASSWORD:-app}"
REDIS_PORT="${REDIS_PORT:-6379}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_PARTITIONS="${KAFKA_PARTITIONS:-6}"
# A second listener for fault-injection tests: bound on KAFKA_FLAKY_PORT but advertised on
# KAFKA_FLAKY_PORT+1, where a test runs a proxy it can cut (shared::testing::flaky_kafka).
KAFKA_FLAKY_PORT="${KAFKA_FLAKY_PORT:-19092}"
SERVICE_DATABASES=(users products recommender analytics)
TOPICS=(user_updates product_updates user_actions)

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND...: polls COMMAND every half second.
wait_for() {
  local what="$1" timeout="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then die "$what not ready after ${timeout}s"; fi
    sleep 0.5
  done
}

# Runs a command as root, directly or through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=""
# apt_install PKG...: installs the Debian packages that are not installed yet.
apt_install() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null || die "apt-get not found; install by hand: ${missing[*]}"
  if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Path of the newest PostgreSQL server binaries installed from Debian's packages.
pg_bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
  echo "$dir"
}

# Pid from a pid file if that process is alive.
live_pid() {
  local pid
  [ -f "$1" ] || return 1
  pid="$(head -n 1 "$1")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# stop_pid NAME PIDFILE: SIGTERM, wait up to 30 s, then SIGKILL.
stop_pid() {
  local name="$1" pidfile="$2" pid i
  pid="$(live_pid "$pidfile")" || { rm -f "$pidfile"; return 0; }
  log "stopping $name (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  rm -f "$pidfile"
}

# The OpenAPI fuzzer the whole-system tests run against every service (tests/system/fuzz.rs).
SCHEMATHESIS_VERSION="4.32.5"
SCHEMATHESIS="$INFRA_DIR/schemathesis/bin/schemathesis"

# ensure_schemathesis: installs schemathesis from PyPI into its own virtualenv, once.
ensure_schemathesis() {
  if [ -x "$SCHEMATHESIS" ] && "$SCHEMATHESIS" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    return 0
  fi
  command -v python3 >/dev/null || apt_install python3
  python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
  log "installing schemathesis $SCHEMATHESIS_VERSION into $INFRA_DIR/schemathesis"
  rm -rf "$INFRA_DIR/schemathesis"
  python3 -m venv "$INFRA_DIR/schemathesis"
  "$INFRA_DIR/schemathesis/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
}

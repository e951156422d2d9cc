#!/usr/bin/env bash
# Makes the real infrastructure the tests talk to available on this machine,
# idempotently: Redis on 127.0.0.1:6379 and the tansu Kafka-protocol broker on
# 127.0.0.1:9092. `down` stops only what `up` started (it keeps pid files).
#
# Settings (env):
#   TRACECHAIN_INFRA_DIR   state: pid files, logs, broker data (default: target/infra)
#   TANSU_VERSION          broker version to install (default 0.6.0)
#   TANSU_STORAGE          broker storage engine URL (default memory://tansu/;
#                          sqlite://tansu.db for a broker whose data survives a
#                          restart: tansu resolves the path against its working
#                          directory, which is the state dir)
#   KAFKA_PORT / REDIS_PORT  (defaults 9092 / 6379)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${TRACECHAIN_INFRA_DIR:-$ROOT/target/infra}"
TANSU_VERSION="${TANSU_VERSION:-0.6.0}"
TANSU_STORAGE="${TANSU_STORAGE:-memory://tansu/}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
REDIS_PORT="${REDIS_PORT:-6379}"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$PATH"

log() { printf 'infra: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- Redis --------------------------------------------------------------------

redis_answers() {
  python3 - "$REDIS_PORT" <<'PY'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    s.sendall(b"PING\r\n")
    sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then die "need root to apt-get install $*"; fi
  if [ ! -f "$STATE/.apt-updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    touch "$STATE/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

redis_up() {
  if redis_answers; then log "redis answers on 127.0.0.1:$REDIS_PORT"; return; fi
  command -v redis-server >/dev/null || { log "installing redis-server"; apt_install redis-server; }
  log "starting redis on 127.0.0.1:$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
    --appendonly no --dir "$STATE" --logfile "$STATE/redis.log" --pidfile "$STATE/redis.pid"
  for _ in $(seq 1 50); do redis_answers && { log "redis is up"; return; }; sleep 0.1; done
  die "redis did not answer within 5 s (see $STATE/redis.log)"
}

# --- tansu (Kafka-protocol broker) -------------------------------------------

tansu_installed_version() {
  command -v tansu >/dev/null || return 1
  tansu --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1
}

tansu_install() {
  if [ "$(tansu_installed_version || true)" = "$TANSU_VERSION" ]; then return; fi
  log "building tansu $TANSU_VERSION (about 10 minutes on 2 cores, once per machine)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore,libsql --quiet
  [ "$(tansu_installed_version || true)" = "$TANSU_VERSION" ] || die "tansu $TANSU_VERSION did not install"
}

# A Kafka Metadata (v1, all topics) request: the broker must answer with the
# same correlation id. An open port alone is not readiness.
kafka_answers() {
  python3 - "$KAFKA_PORT" <<'PY'
import socket, struct, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
    client = b"infra-probe"
    body = struct.pack(">hhih", 3, 1, 4242, len(client)) + client + struct.pack(">i", -1)
    s.sendall(struct.pack(">i", len(body)) + body)
    head = b""
    while len(head) < 8:
        chunk = s.recv(8 - len(head))
        if not chunk:
            sys.exit(1)
        head += chunk
    size, corr = struct.unpack(">ii", head)
    sys.exit(0 if corr == 4242 and size > 4 else 1)
except OSError:
    sys.exit(1)
PY
}

kafka_up() {
  if kafka_answers; then log "kafka broker answers on 127.0.0.1:$KAFKA_PORT"; return; fi
  tansu_install
  log "starting tansu $TANSU_VERSION on 127.0.0.1:$KAFKA_PORT ($TANSU_STORAGE)"
  (cd "$STATE" && nohup tansu broker \
    --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --storage-engine "$TANSU_STORAGE" >"$STATE/tansu.log" 2>&1 & echo $! >"$STATE/tansu.pid")
  for _ in $(seq 1 150); do kafka_answers && { log "kafka broker is up"; return; }; sleep 0.2; done
  die "tansu did not answer a metadata request within 30 s (see $STATE/tansu.log)"
}

# --- down ----------------------------------------------------------------------

stop_pidfile() {
  local name=$1 file="$STATE/$1.pid"
  [ -f "$file" ] || return 0
  local pid; pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

usage() { echo "usage: $0 up|down|status" >&2; exit 2; }

mkdir -p "$STATE"
case "${1:-}" in
  up) redis_up; kafka_up ;;
  down) stop_pidfile tansu; stop_pidfile redis ;;
  status)
    redis_answers && echo "redis: up" || echo "redis: down"
    kafka_answers && echo "kafka: up" || echo "kafka: down" ;;
  *) usage ;;
esac

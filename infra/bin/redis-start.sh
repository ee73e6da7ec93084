#!/usr/bin/env bash
# Start Redis (Debian's redis-server package, installed if missing) on 127.0.0.1:${REDIS_PORT:-6379}.
# Idempotent: exits 0 when a Redis already answers PING there.
set -euo pipefail
source "$(dirname "$0")/common.sh"
PORT="${REDIS_PORT:-6379}"
RUN_DIR="$STATE_DIR/redis-$PORT"
TIMEOUT="${REDIS_START_TIMEOUT:-30}"

ping() { command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = PONG ]; }

if ping; then log "Redis already answering on 127.0.0.1:$PORT"; exit 0; fi

if ! command -v redis-server >/dev/null; then
  log "installing Debian's redis-server package"
  export DEBIAN_FRONTEND=noninteractive
  run_as_root apt-get update -qq >&2
  run_as_root apt-get install -y -qq redis-server >&2
fi

mkdir -p "$RUN_DIR"
log "starting redis-server on 127.0.0.1:$PORT (log: $RUN_DIR/redis.log)"
redis-server --bind 127.0.0.1 --port "$PORT" --daemonize yes --dir "$RUN_DIR" \
  --pidfile "$RUN_DIR/redis.pid" --logfile "$RUN_DIR/redis.log" \
  --save "" --appendonly no --protected-mode yes --maxmemory "${REDIS_MAXMEMORY:-2gb}" \
  --maxmemory-policy allkeys-lru

for ((i = 0; i < TIMEOUT * 4; i++)); do
  if ping; then log "Redis is up on 127.0.0.1:$PORT"; exit 0; fi
  sleep 0.25
done
die "Redis did not answer PING within ${TIMEOUT}s (see $RUN_DIR/redis.log)"

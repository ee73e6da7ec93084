#!/usr/bin/env bash
# Stop the Redis started by redis-start.sh (no-op when it is not running).
set -euo pipefail
source "$(dirname "$0")/common.sh"
PORT="${REDIS_PORT:-6379}"
if command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = PONG ]; then
  log "stopping Redis on 127.0.0.1:$PORT"
  redis-cli -h 127.0.0.1 -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
else
  log "Redis is not running on 127.0.0.1:$PORT"
fi

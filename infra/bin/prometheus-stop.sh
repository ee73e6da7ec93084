#!/usr/bin/env bash
# Stop the Prometheus started by prometheus-start.sh on ${PROMETHEUS_PORT:-9090} (no-op when it is not running).
set -euo pipefail
source "$(dirname "$0")/common.sh"
PORT="${PROMETHEUS_PORT:-9090}"
PID_FILE="$STATE_DIR/prometheus-$PORT/prometheus.pid"
if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  pid=$(cat "$PID_FILE")
  log "stopping Prometheus on 127.0.0.1:$PORT (pid $pid)"
  kill "$pid"
  for ((i = 0; i < 80; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$PID_FILE"
else
  log "Prometheus (started by prometheus-start.sh) is not running on 127.0.0.1:$PORT"
fi

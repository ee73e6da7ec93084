#!/usr/bin/env bash
# Stop the Kafka broker started by kafka-start.sh (no-op when it is not running).
set -euo pipefail
source "$(dirname "$0")/common.sh"
PORT="${KAFKA_PORT:-9092}"
PID_FILE="$STATE_DIR/kafka-$PORT/kafka.pid"
if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  pid="$(cat "$PID_FILE")"
  log "stopping Kafka (pid $pid)"
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && { log "Kafka still running after 30 s; killing"; kill -9 "$pid"; }
  rm -f "$PID_FILE"
else
  log "Kafka is not running (from this project's state dir)"
fi

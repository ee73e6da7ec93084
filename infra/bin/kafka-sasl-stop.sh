#!/usr/bin/env bash
# Stop the secured broker started by kafka-sasl-start.sh (no-op when it is not running).
set -euo pipefail
export KAFKA_PORT="${KAFKA_PORT:-9094}"
exec bash "$(dirname "$0")/kafka-stop.sh"

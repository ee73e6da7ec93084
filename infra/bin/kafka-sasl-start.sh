#!/usr/bin/env bash
# A second, secured broker beside the plain one: SASL/SCRAM-SHA-512 and ACLs (kafka-start.sh --sasl) on
# 127.0.0.1:${KAFKA_PORT:-9094} (controller ${KAFKA_CONTROLLER_PORT:-9095}), its own state, a small heap.
# The broker on 9092 is not touched. Idempotent; stop it with kafka-sasl-stop.sh.
set -euo pipefail
export KAFKA_PORT="${KAFKA_PORT:-9094}"
export KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9095}"
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx256m}"
exec bash "$(dirname "$0")/kafka-start.sh" --sasl

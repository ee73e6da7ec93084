#!/usr/bin/env bash
# Install with the benchmark extras, start Kafka + Redis, run `python -m benchmarks ARGS...` (e.g. `outage`).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
LLM_ROUTER_EXTRAS="${LLM_ROUTER_EXTRAS:-dev,bench}" bash infra/bin/install.sh
bash infra/bin/redis-start.sh
bash infra/bin/kafka-start.sh
exec .venv/bin/python -m benchmarks "$@"

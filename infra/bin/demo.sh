#!/usr/bin/env bash
# The main job: install, start Kafka + Redis, then fake provider + router worker + a demo workload.
# Extra arguments go to `llm-router demo` (e.g. --requests 1000).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
bash infra/bin/install.sh
bash infra/bin/redis-start.sh
bash infra/bin/kafka-start.sh
exec .venv/bin/llm-router demo "$@"

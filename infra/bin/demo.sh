#!/usr/bin/env bash
# The main job: install, start Kafka + Redis, then fake provider + router worker + a demo workload.
# Extra arguments go to `llm-router demo` (e.g. --requests 1000).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
bash infra/bin/install.sh
bash infra/bin/redis-start.sh
bash infra/bin/kafka-start.sh
# the secret that signs the router's retry state (security.router_keys): one per demo run unless given
export LLM_ROUTER_KEY="${LLM_ROUTER_KEY:-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(32))')}"
exec .venv/bin/llm-router demo "$@"

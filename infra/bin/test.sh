#!/usr/bin/env bash
# Install everything (Prometheus included), start Kafka + Redis, run the whole test suite (unit, functional, integration).
# Extra arguments go to pytest. Services this script started are stopped again at the end.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
started=()
cleanup() {
  for svc in "${started[@]}"; do bash "$ROOT/infra/bin/$svc-stop.sh" || true; done
}
trap cleanup EXIT

bash infra/bin/install.sh
for svc in redis kafka; do
  port=$([ $svc = kafka ] && echo "${KAFKA_PORT:-9092}" || echo "${REDIS_PORT:-6379}")
  port_open 127.0.0.1 "$port" || started+=("$svc")
  bash "infra/bin/$svc-start.sh"
done
# Prometheus and promtool (Debian's package): tests/integration/test_prometheus.py starts its own servers
bash infra/bin/prometheus-start.sh --install-only

log "running tests"
set +e
.venv/bin/python -m pytest -p no:cacheprovider -ra "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then log "WARNING: pytest collected no tests (exit 5), treated as success"; rc=0; fi
exit "$rc"

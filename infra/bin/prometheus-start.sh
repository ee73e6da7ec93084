#!/usr/bin/env bash
# Start Prometheus (Debian's prometheus package, installed if missing; it ships promtool) on
# 127.0.0.1:${PROMETHEUS_PORT:-9090}, scraping LLM Router workers.
#
#   prometheus-start.sh [CONFIG]     CONFIG: a prometheus.yml (default: infra/observability/prometheus.yml)
#   prometheus-start.sh --install-only
#
# The config's directory (its rule files, targets/*.json) is copied to the state directory, so the repository is
# never written. PROMETHEUS_TARGETS (comma-separated host:port list) replaces targets/*.json with one file listing
# those workers. Idempotent: exits 0 when a Prometheus already answers /-/ready on that port.
set -euo pipefail
source "$(dirname "$0")/common.sh"
PORT="${PROMETHEUS_PORT:-9090}"
RUN_DIR="$STATE_DIR/prometheus-$PORT"
TIMEOUT="${PROMETHEUS_START_TIMEOUT:-60}"

install_prometheus() {
  if command -v prometheus >/dev/null && command -v promtool >/dev/null; then return 0; fi
  log "installing Debian's prometheus package (prometheus, promtool)"
  export DEBIAN_FRONTEND=noninteractive
  run_as_root apt-get update -qq >&2
  run_as_root apt-get install -y -qq --no-install-recommends prometheus >&2
  # the package enables a system service on :9090; ours is started below, on the port asked for
  if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    log "note: the package's own prometheus service runs too (systemctl stop prometheus to free :9090)"
  fi
}

# ready -> 0 when Prometheus answers 200 on /-/ready (bash's /dev/tcp: no curl needed)
ready() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
    printf 'GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    head -1 <&3 | grep -q ' 200'
  ) 2>/dev/null
}

install_prometheus
if [ "${1:-}" = --install-only ]; then exit 0; fi
CONFIG="${1:-$ROOT/infra/observability/prometheus.yml}"
[ -f "$CONFIG" ] || die "no such config: $CONFIG"

if ready; then log "Prometheus already answering on 127.0.0.1:$PORT"; exit 0; fi

mkdir -p "$RUN_DIR/config" "$RUN_DIR/data"
cp -R "$(dirname "$CONFIG")/." "$RUN_DIR/config/"
cp "$CONFIG" "$RUN_DIR/config/prometheus.yml"
if [ -n "${PROMETHEUS_TARGETS:-}" ]; then
  rm -f "$RUN_DIR"/config/targets/*.json
  mkdir -p "$RUN_DIR/config/targets"
  targets=$(printf '%s' "$PROMETHEUS_TARGETS" | tr ',' '\n' | sed '/^$/d; s/.*/"&"/' | paste -sd, -)
  printf '[{"targets": [%s], "labels": {"service": "llm-router"}}]\n' "$targets" >"$RUN_DIR/config/targets/workers.json"
fi
promtool check config "$RUN_DIR/config/prometheus.yml" >&2 || die "invalid config: $CONFIG"

log "starting prometheus on 127.0.0.1:$PORT (log: $RUN_DIR/prometheus.log)"
setsid prometheus \
  --config.file="$RUN_DIR/config/prometheus.yml" \
  --storage.tsdb.path="$RUN_DIR/data" \
  --storage.tsdb.retention.time="${PROMETHEUS_RETENTION:-2d}" \
  --web.listen-address="127.0.0.1:$PORT" \
  --web.enable-lifecycle \
  >"$RUN_DIR/prometheus.log" 2>&1 </dev/null &
echo $! >"$RUN_DIR/prometheus.pid"

for ((i = 0; i < TIMEOUT * 4; i++)); do
  if ready; then log "Prometheus is up on http://127.0.0.1:$PORT"; exit 0; fi
  kill -0 "$(cat "$RUN_DIR/prometheus.pid")" 2>/dev/null || die "prometheus exited (see $RUN_DIR/prometheus.log)"
  sleep 0.25
done
die "Prometheus not ready within ${TIMEOUT}s (see $RUN_DIR/prometheus.log)"

#!/usr/bin/env bash
# Create .venv/ in the repository root and install the project with its dev tools (idempotent, cached).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3.12 python3.13 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      PY="$cand"; break
    fi
  done
fi
[ -n "$PY" ] || die "Python >= 3.11 is required (found: $(python3 --version 2>&1 || echo none))"

if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($PY --version)"
  "$PY" -m venv .venv || { log "venv module missing, installing python3-venv"; run_as_root apt-get update -qq;
                           run_as_root apt-get install -y -qq python3-venv >&2; "$PY" -m venv .venv; }
fi

EXTRAS="${LLM_ROUTER_EXTRAS:-dev}"
STAMP=".venv/.llm-router-installed"
WANT="$(cat pyproject.toml | sha256sum | cut -c1-16)-$EXTRAS"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  log "installing llm-router[$EXTRAS] into .venv (pip cache: ${PIP_CACHE_DIR:-~/.cache/pip})"
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q -e ".[$EXTRAS]" >&2
  echo "$WANT" > "$STAMP"
else
  log ".venv is up to date"
fi

# the console's browser tests (Playwright) drive Debian's Chromium: never `playwright install` (no downloads)
if [[ ",$EXTRAS," == *",dev,"* ]] && ! command -v chromium >/dev/null; then
  log "installing Debian's chromium package (browser tests of the console)"
  export DEBIAN_FRONTEND=noninteractive
  run_as_root apt-get update -qq >&2
  run_as_root apt-get install -y -qq chromium >&2
fi

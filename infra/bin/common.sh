# Shared helpers for the infra scripts (sourced, not executed).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${LLM_ROUTER_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/llm-router}"
CACHE_DIR="${LLM_ROUTER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-router}"
mkdir -p "$STATE_DIR" "$CACHE_DIR"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# port_open HOST PORT -> 0 when something accepts TCP connections there
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0 || return 1; }

# run_as_root CMD... -> runs CMD directly as root, via sudo otherwise
run_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

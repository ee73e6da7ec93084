"""Where the router keeps files of its own (logs, Faust's data directory): never the current directory."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["state_dir"]


def state_dir(environ: dict[str, str] | None = None) -> Path:
    """``$LLM_ROUTER_STATE_DIR``, else ``$XDG_STATE_HOME/llm-router``, else ``~/.local/state/llm-router`` (the
    same rule as ``infra/bin/common.sh``)."""
    env = os.environ if environ is None else environ
    explicit = env.get("LLM_ROUTER_STATE_DIR")
    if explicit:
        return Path(explicit)
    return Path(env.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")) / "llm-router"

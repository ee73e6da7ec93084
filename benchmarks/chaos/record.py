"""One results file for every chaos scenario (``benchmarks/results/chaos.json``): each run replaces its own
scenario's entry and keeps the others, so scenarios can be run (and re-run) one at a time."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import RESULTS_DIR

__all__ = ["CHAOS_JSON", "REQUIRED_FIELDS", "load_results", "record_scenario"]

CHAOS_JSON = RESULTS_DIR / "chaos.json"

#: what issue 13 asks of every scenario; ``duplicates`` = distinct responses per request id beyond one
REQUIRED_FIELDS = (
    "sent",
    "answered",
    "dead_lettered",
    "lost",
    "duplicates",
    "provider_calls_per_request",
    "crashes",
)


def load_results(path: Path = CHAOS_JSON) -> dict[str, Any]:
    if not path.exists():
        return {"scenarios": {}}
    data: dict[str, Any] = json.loads(path.read_text())
    data.setdefault("scenarios", {})
    return data


def record_scenario(name: str, result: dict[str, Any], *, command: str, path: Path = CHAOS_JSON) -> Path:
    """Store ``result`` as scenario ``name`` (with the command that reproduces it); every required field must be
    there, so a scenario cannot quietly skip a figure."""
    missing = [f for f in REQUIRED_FIELDS if f not in result]
    if missing:
        raise ValueError(f"chaos scenario {name!r} is missing {missing}")
    data = load_results(path)
    data["scenarios"][name] = {
        **result,
        "command": command,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, {_cores()} cores",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    return path


def _cores() -> int:
    import os

    return os.cpu_count() or 1

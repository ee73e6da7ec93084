"""``python -m benchmarks chaos``: the fault suite's long versions (issue 13), recorded in
``benchmarks/results/chaos.json`` (one entry per scenario, see ``record.py``) and drawn in ``chaos.png``.

Scenarios come from ``faults.py`` (worker_sigkill, broker_restart, redis_stop) and ``load.py`` (provider_hangs,
fuzz, soak). With no ``--scenario`` every one runs except the soak, which takes ``--soak-minutes`` (an hour by
default): ask for it by name or with ``--scenario all``. The exit code is non-zero when a scenario lost a request,
a worker crashed, the scenario failed to run, or the scenario's own targets were missed (its ``target_met`` field,
or every value of its ``targets``)."""

from __future__ import annotations

import asyncio
import logging
import shlex
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["DEFAULT_EXCLUDED", "available_scenarios", "missed", "run", "select"]

log = logging.getLogger(__name__)

Scenario = Callable[..., Awaitable[dict[str, Any]]]
#: left out unless named (or ``all``): an hour long
DEFAULT_EXCLUDED = ("soak",)


def available_scenarios() -> tuple[dict[str, Scenario], str | None]:
    """Every scenario, faults first; and why ``load.py``'s are missing, if they are."""
    from benchmarks.chaos.faults import SCENARIOS as FAULTS

    scenarios: dict[str, Scenario] = dict(FAULTS)
    try:
        from benchmarks.chaos.load import SCENARIOS as LOAD
    except ImportError as exc:
        return scenarios, f"benchmarks/chaos/load.py not importable ({exc}): provider_hangs, fuzz, soak unavailable"
    scenarios.update(LOAD)
    return scenarios, None


def select(requested: list[str] | None, known: dict[str, Scenario]) -> list[str]:
    """The names to run, in the order given (``all``: every known one; none: all but DEFAULT_EXCLUDED).
    ValueError names unknown ones."""
    if not requested:
        return [n for n in known if n not in DEFAULT_EXCLUDED]
    if "all" in requested:
        return list(known)
    unknown = [n for n in requested if n not in known]
    if unknown:
        raise ValueError(f"unknown chaos scenario(s) {unknown}; known: {sorted(known)}")
    return list(dict.fromkeys(requested))


def missed(result: dict[str, Any]) -> list[str]:
    """Why a scenario's result fails the run (empty: it passes)."""
    why = []
    if result.get("lost", 0) > 0:
        why.append(f"lost {result['lost']}")
    if result.get("crashes", 0) > 0:
        why.append(f"{result['crashes']} crash(es)")
    targets = result.get("targets")
    if isinstance(targets, dict):
        why.extend(f"target missed: {name}" for name, held in targets.items() if not held)
    if result.get("target_met") is False and not why:
        why.append("target missed")
    return why


def _command(name: str, scale: float, soak_minutes: float) -> str:
    parts = ["python", "-m", "benchmarks", "chaos", "--scenario", name, "--scale", f"{scale:g}"]
    if name == "soak":
        parts += ["--soak-minutes", f"{soak_minutes:g}"]
    return shlex.join(parts)


async def _run_one(name: str, scenario: Scenario, scale: float, soak_minutes: float) -> dict[str, Any] | None:
    from benchmarks.chaos.record import record_scenario

    print(f"[chaos] {name}: running (scale {scale:g})", flush=True)
    try:
        result = await scenario(scale=scale, minutes=soak_minutes)
    except Exception:
        print(f"[chaos] {name}: FAILED to run\n{traceback.format_exc()}", flush=True)
        return None
    path = record_scenario(name, result, command=_command(name, scale, soak_minutes))
    print(f"[chaos] {name}: recorded in {path}", flush=True)
    return result


def _row(name: str, r: dict[str, Any] | None) -> list[Any]:
    if r is None:
        return [name, "-", "-", "-", "-", "-", "-", "-", "FAILED TO RUN"]
    calls = r.get("provider_calls_per_request")
    calls_text = f"{calls:.3f}" if isinstance(calls, int | float) else str(calls)
    if "provider_calls_per_request_max" in r:
        calls_text += f" (max {r['provider_calls_per_request_max']})"
    why = missed(r)
    verdict = "ok" if not why else "; ".join(why)
    cells = [r.get(f) for f in ("sent", "answered", "dead_lettered", "lost", "duplicates")]
    return [name, *cells, calls_text, r.get("crashes"), verdict]


async def run(names: list[str] | None = None, *, scale: float = 1.0, soak_minutes: float = 60.0) -> int:
    """Run the selected scenarios one after another, record each, print a table and redraw chaos.png."""
    from benchmarks.chaos.plot import redraw
    from streams.report import print_table

    known, note = available_scenarios()
    if note:
        print(f"[chaos] {note}", flush=True)
    chosen = select(names, known)
    if not names and any(n in known for n in DEFAULT_EXCLUDED):
        print(f"[chaos] not running {', '.join(DEFAULT_EXCLUDED)} (ask with --scenario soak or all)", flush=True)
    results = {n: await _run_one(n, known[n], scale, soak_minutes) for n in chosen}
    print()
    header = ["scenario", "sent", "answered", "dead-lettered", "lost", "duplicates", "calls/request", "crashes", ""]
    print_table(header, [_row(n, r) for n, r in results.items()])
    png = redraw()
    if png is not None:
        print(f"\nredrew {png}")
    failed = [n for n, r in results.items() if r is None or missed(r)]
    print("all targets met" if not failed else f"targets NOT met: {', '.join(failed)}")
    return 1 if failed else 0


def main_sync(names: list[str] | None, scale: float, soak_minutes: float) -> int:
    return asyncio.run(run(names, scale=scale, soak_minutes=soak_minutes))

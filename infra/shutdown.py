"""Bounded shutdown: cancel background tasks and close resources within a time budget, and log what did not
finish instead of waiting for it. A process that has printed its answers must be able to exit.

Why :func:`stop_tasks` cancels more than once: a cancellation can be lost. Python 3.11's ``asyncio.wait_for``
returns the inner result when the inner call finishes in the same loop iteration the cancel arrives (fixed in
3.12); redis-py wraps every socket write in it, so a task blocked in ``XREAD`` can swallow the one ``cancel()``
and block again. Another cancel lands on its next await."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

__all__ = ["RECANCEL_EVERY_S", "close_all", "stop_tasks"]

log = logging.getLogger(__name__)

#: how long a cancelled task gets before it is cancelled again (cleanup after a cancel takes microseconds)
RECANCEL_EVERY_S = 0.1


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]], timeout_s: float) -> set[asyncio.Task[Any]]:
    """Cancel ``tasks`` and wait at most ``timeout_s`` for them to end, cancelling again every
    :data:`RECANCEL_EVERY_S`. Returns (and logs) the tasks still running at the deadline."""
    pending = {t for t in tasks if not t.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - loop.time()
        if left <= 0:
            break
        done, pending = await asyncio.wait(pending, timeout=min(left, RECANCEL_EVERY_S))
        _log_failures(done)
    for task in pending:
        log.warning("task %s did not stop within %.1f s; left running", task.get_name(), timeout_s)
    return pending


async def close_all(closers: Mapping[str, Callable[[], Awaitable[None]]], timeout_s: float) -> list[str]:
    """Run every closer at once and wait at most ``timeout_s``; the ones still running then are cancelled and
    logged, and their names returned. A closer that raises is logged too (closing continues)."""
    if not closers:
        return []
    tasks = {asyncio.create_task(_call(fn), name=f"close {name}"): name for name, fn in closers.items()}
    done, pending = await asyncio.wait(tasks, timeout=max(timeout_s, 0.0))
    _log_failures(done)
    for task in pending:
        task.cancel()
        log.warning("closing %s did not finish within %.1f s; abandoned", tasks[task], timeout_s)
    return sorted(tasks[t] for t in pending)


async def _call(fn: Callable[[], Awaitable[None]]) -> None:
    await fn()


def _log_failures(done: Iterable[asyncio.Task[Any]]) -> None:
    for task in done:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("%s failed while stopping: %r", task.get_name(), exc)

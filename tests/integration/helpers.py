"""Helpers for integration tests: waiting on futures and reading whole topics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TypeVar

from pydantic import BaseModel

from schemas.events import ChatResponse
from schemas.wire import decode
from streams.processes import ManagedProcess
from streams.topics import read_records

M = TypeVar("M", bound=BaseModel)


async def gather_responses(
    futures: Iterable[asyncio.Future[ChatResponse]], timeout_s: float, workers: list[ManagedProcess]
) -> list[ChatResponse]:
    """Wait for every future, failing early (with the worker log) if a worker died unexpectedly."""
    all_futs = list(futures)
    pending = set(all_futs)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while pending:
        if loop.time() > deadline:
            logs = "\n".join(f"--- {w.name}:\n{w.tail(30)}" for w in workers)
            raise AssertionError(f"{len(pending)} of {len(all_futs)} requests unanswered after {timeout_s}s\n{logs}")
        _, pending = await asyncio.wait(pending, timeout=1.0)
    return [f.result() for f in all_futs]


async def read_topic(
    bootstrap: str, topic: str, model: type[M], *, min_count: int = 0, timeout_s: float = 20
) -> list[M]:
    """All records of ``topic`` decoded as ``model`` (waits until at least ``min_count`` are there)."""
    records = await read_records(bootstrap, topic, min_count=min_count, timeout_s=timeout_s)
    return [decode(model, r.value) for r in records]

"""The embedding batcher's task lives as long as the process but is started by the first request that embeds:
it must run in a fresh context, or every line it logs would carry that first request's ids."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import numpy as np
import pytest
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars

from infra.embeddings.batcher import BatchingEmbedder


class _Embedder:
    name = "ones"
    dim = 2

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), 2), dtype=np.float32)


@pytest.fixture
async def task_contexts() -> AsyncIterator[dict[str, dict[str, Any]]]:
    """The log context each task starts with, by its coroutine (the loop's task factory hook, nothing patched)."""
    loop = asyncio.get_running_loop()
    seen: dict[str, dict[str, Any]] = {}

    def factory(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], context: contextvars.Context | None = None
    ) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, context=context)
        seen[getattr(coro, "__qualname__", "?")] = (context if context is not None else contextvars.copy_context()).run(
            get_contextvars
        )
        return task

    old = loop.get_task_factory()
    loop.set_task_factory(factory)  # type: ignore[arg-type]
    yield seen
    loop.set_task_factory(old)


async def test_the_batcher_task_does_not_carry_the_first_request(task_contexts: dict[str, dict[str, Any]]) -> None:
    emb = BatchingEmbedder(_Embedder())
    clear_contextvars()
    bind_contextvars(request_id="r1")
    try:
        assert (await emb.embed_one("hello")).shape == (2,)
    finally:
        clear_contextvars()
        await emb.aclose()
    assert task_contexts["BatchingEmbedder._run"] == {}

"""Async front of an embedder: concurrent callers are batched and the CPU work runs in one worker thread,
never on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from schemas.protocols import Embedder

__all__ = ["BatchingEmbedder"]

T = TypeVar("T")


class BatchingEmbedder:
    def __init__(self, embedder: Embedder, *, max_batch: int = 64, max_wait_s: float = 0.002) -> None:
        self.embedder = embedder
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[np.ndarray]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
        self.batches = 0
        self.texts = 0
        self.reused = 0
        # the same prompt is often embedded twice per request (cache lookup, then route exemplars): keep a few
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._recent_max = 512

    @property
    def dim(self) -> int:
        return int(self.embedder.dim)

    async def embed_one(self, text: str) -> np.ndarray:
        hit = self._recent.get(text)
        if hit is not None:
            self._recent.move_to_end(text)
            self.reused += 1
            return hit
        vector = await self._embed_one(text)
        self._recent[text] = vector
        if len(self._recent) > self._recent_max:
            self._recent.popitem(last=False)
        return vector

    async def _embed_one(self, text: str) -> np.ndarray:
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._task is None or self._task.done():  # never left without a consumer
            # a fresh context: the task outlives the request that starts it, and must not log with its ids
            self._task = asyncio.create_task(self._run(), name="embed-batcher", context=contextvars.Context())
        fut: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        await self._queue.put((text, fut))
        return await fut

    async def embed_many(self, texts: list[str]) -> np.ndarray:
        """A whole list at once (still off the loop)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.embedder.embed, texts)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the embedding thread (for work that may embed, such as word alignment)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            items = [await self._queue.get()]
            deadline = loop.time() + self._max_wait_s
            while len(items) < self._max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    items.append(await asyncio.wait_for(self._queue.get(), timeout))
                except TimeoutError:
                    break
            texts = [t for t, _ in items]
            try:
                vectors = await loop.run_in_executor(self._pool, self.embedder.embed, texts)
                if len(vectors) != len(texts):
                    raise ValueError(f"embedder {self.embedder.name} returned {len(vectors)} rows for {len(texts)}")
            except Exception as exc:  # the batch fails, the batcher goes on
                for _, fut in items:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self.batches += 1
            self.texts += len(texts)
            for (_, fut), vec in zip(items, vectors, strict=True):
                if not fut.done():
                    fut.set_result(vec)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._pool.shutdown(wait=False, cancel_futures=True)

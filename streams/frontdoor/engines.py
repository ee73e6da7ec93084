"""What answers a request behind the door: the workers over Kafka (:class:`KafkaEngine`) or the same engine in
this process (:class:`InlineEngine`, ``serve --engine inline``). Both coalesce: HTTP requests with the same request
id (a client retrying with its Idempotency-Key while the first try still waits) share one round trip."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from schemas.config import RouterConfig
from schemas.events import ChatChunk, ChatRequest, ChatResponse
from schemas.openai_api import ApiError, ApiErrorType, DoorCode

__all__ = ["IDEMPOTENT_PREFIX", "Coalescer", "Engine", "InlineEngine", "comes_back", "deadline_passed"]

log = logging.getLogger(__name__)
#: request ids the door derived from an Idempotency-Key start with this (the others are fresh, never asked again)
IDEMPOTENT_PREFIX = "idem-"


class Engine(Protocol):
    """The door's view of the router."""

    name: str

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def complete(self, request: ChatRequest, timeout_s: float) -> ChatResponse:
        """The terminal response; ApiError 503 when the router cannot be reached, 504 past ``timeout_s``."""
        ...

    def stream(self, request: ChatRequest, timeout_s: float) -> AsyncGenerator[ChatChunk | ChatResponse, None]:
        """The request's chunks in order, then its terminal response (last); closing it early stops the call
        where the engine can. Not coalesced: each streamed HTTP request is its own round trip."""
        ...

    async def ready(self) -> dict[str, bool]:
        """Each dependency the engine needs, and whether it answers now."""
        ...

    def metrics_text(self) -> bytes:
        """Series of the engine itself to append to the door's ``/metrics`` (none for the Kafka engine)."""
        ...


def deadline_passed(timeout_s: float) -> ApiError:
    return ApiError(
        504,
        ApiErrorType.TIMEOUT,
        DoorCode.TIMEOUT,
        f"no answer within {timeout_s:g}s; retry with the same Idempotency-Key to get the answer when it comes",
    )


@dataclass
class _Shared:
    task: asyncio.Task[ChatResponse]
    waiters: int = 0


def comes_back(request: ChatRequest) -> bool:
    """A request named by an ``Idempotency-Key``: its client said it will come back for the answer (a retry with
    the same key), so a client that leaves does not withdraw it; the answer is finished and remembered."""
    return request.request_id.startswith(IDEMPOTENT_PREFIX)


@dataclass
class Coalescer:
    """One round trip per request id in flight. When its last waiter leaves (disconnect, deadline) the round trip
    is cancelled, unless the client :func:`comes_back` for it: then it runs on, at most ``timeout_s`` more, and
    a retry that comes meanwhile joins it."""

    roundtrip: Callable[[ChatRequest], Awaitable[ChatResponse]]
    _inflight: dict[str, _Shared] = field(default_factory=dict)

    async def complete(self, request: ChatRequest, timeout_s: float) -> ChatResponse:
        rid = request.request_id
        shared = self._inflight.get(rid)
        if shared is None:
            task = asyncio.ensure_future(self.roundtrip(request))
            shared = self._inflight[rid] = _Shared(task)
        shared.waiters += 1
        try:
            return await asyncio.wait_for(asyncio.shield(shared.task), timeout_s)
        except TimeoutError:
            raise deadline_passed(timeout_s) from None
        finally:
            shared.waiters -= 1
            if shared.waiters == 0 and self._inflight.get(rid) is shared:
                self._left(rid, shared, comes_back(request), timeout_s)

    def _left(self, rid: str, shared: _Shared, keep: bool, timeout_s: float) -> None:
        """Nobody waits for ``rid`` any more: drop it, and cancel it unless ``keep`` (then it stays joinable
        until it ends, bounded by ``timeout_s``)."""
        task = shared.task
        if task.done() or not keep:
            del self._inflight[rid]
            task.cancel()
            return
        bound = asyncio.get_running_loop().call_later(timeout_s, task.cancel)

        def ended(_: object) -> None:
            bound.cancel()
            if self._inflight.get(rid) is shared:
                del self._inflight[rid]

        task.add_done_callback(ended)

    async def aclose(self) -> None:
        tasks = [s.task for s in self._inflight.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._inflight.clear()


class InlineEngine:
    """The library-mode router (:class:`streams.library.Router`) in the door's process: no Kafka. Answers to
    requests with an Idempotency-Key are remembered (the last ``remember`` of them), so a retry with the same key
    gets the same answer here too, as the workers' request claims give it over Kafka."""

    name = "inline"

    def __init__(self, config: RouterConfig, *, remember: int = 10_000) -> None:
        from streams.library import Router

        self._router = Router(config)
        self._answers: OrderedDict[str, ChatResponse] = OrderedDict()
        self._remember = remember
        self._coalescer = Coalescer(self._serve)
        self._started = False

    async def start(self) -> None:
        await self._router.start()
        self._started = True

    async def aclose(self) -> None:
        await self._coalescer.aclose()
        await self._router.aclose()

    async def _serve(self, request: ChatRequest) -> ChatResponse:
        key = f"{request.tenant}:{request.request_id}"
        known = self._answers.get(key)
        if known is not None:
            self._answers.move_to_end(key)
            return known
        response = await self._router.complete(request)
        if request.request_id.startswith(IDEMPOTENT_PREFIX):
            self._answers[key] = response
            if len(self._answers) > self._remember:
                self._answers.popitem(last=False)
        return response

    async def complete(self, request: ChatRequest, timeout_s: float) -> ChatResponse:
        return await self._coalescer.complete(request, timeout_s)

    async def stream(self, request: ChatRequest, timeout_s: float) -> AsyncGenerator[ChatChunk | ChatResponse, None]:
        """The library router's stream; closing it cancels the provider call (the task serving it). The
        router's own deadline on the request bounds it (``timeout_s`` is for the Kafka engine's wait)."""
        items = self._router.stream(request)
        try:
            async for item in items:
                yield item
        finally:
            await items.aclose()

    async def ready(self) -> dict[str, bool]:
        return {"engine": self._started}

    def metrics_text(self) -> bytes:
        return self._router.metrics_text().encode()

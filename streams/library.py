"""Library mode: the router in your process, no Kafka. Same engine as the service (routes, strategies,
scheduler, cache, providers, retries with backoff, failover, circuit breakers, rate limits, cost), driven by
``await router.complete(request)``.

    async with Router.from_config("router.yaml") as router:
        response = await router.complete(ChatRequest(messages=[ChatMessage(role="user", content="Hi")]))

Retries wait in process (``asyncio.sleep``) instead of in a delay topic; nothing is published. With
``redis.enabled`` the cache, circuit states and rate limits are shared with other routers using that Redis;
without it everything is local to the process."""

from __future__ import annotations

import asyncio
import os
from typing import Any, Self

from agents.admission import serve_round
from agents.processor import Outcome
from agents.token_estimate import cost_units
from infra.config_loader import load_config
from schemas.config import RouterConfig
from schemas.events import ChatMessage, ChatRequest, ChatResponse
from schemas.protocols import Publisher
from streams.publishers import NullPublisher
from streams.runtime import RouterRuntime

__all__ = ["Router"]


class Router:
    """An in-process router. Create with :meth:`from_config`; use as an async context manager or call
    :meth:`aclose`."""

    def __init__(self, config: RouterConfig, *, publisher: Publisher | None = None, background: bool = True) -> None:
        self.config = config
        self.runtime = RouterRuntime(config, publisher or NullPublisher())
        self._background = background
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str] | None = None, *, env: dict[str, str] | None = None, **kw: Any
    ) -> Router:
        """Load and validate a YAML/JSON config (``None``: ``$LLM_ROUTER_CONFIG`` or the packaged default)."""
        return cls(load_config(path, env=env), **kw)

    async def start(self) -> None:
        """Build the engine; with ``background`` also run health probes, shared circuits and cache sync.
        Called by the first :meth:`complete` if you do not."""
        if self.runtime.processor is not None:
            return
        await self.runtime.start()
        if self._background and not self._tasks:
            self._tasks.append(asyncio.create_task(self._run_background()))

    async def _run_background(self) -> None:
        # library mode never opens the metrics port by itself: the registry is ``router.metrics.registry``
        health, cache = self.runtime.health, self.runtime.cache
        if cache is not None:
            cache.start()
        if health is not None:
            await health.run()

    @property
    def metrics(self) -> Any:
        return self.runtime.metrics

    async def ask(self, prompt: str, **fields: Any) -> ChatResponse:
        """Shortcut: one user message."""
        return await self.complete(ChatRequest(messages=[ChatMessage(role="user", content=prompt)], **fields))

    async def complete(self, request: ChatRequest | dict[str, Any]) -> ChatResponse:
        """Serve one request to its terminal response (``status`` ok or error; never raises for provider
        failures, exhausted retries, expired deadlines or unroutable models)."""
        if not isinstance(request, ChatRequest):
            request = ChatRequest.model_validate(request)
        await self.start()
        rt = self.runtime
        processor, gate = rt.processor, rt.gate
        assert processor is not None and gate is not None
        arrival = gate.clock()
        left = processor.time_left(request)
        if left is not None and left <= 0:
            return self._finish(processor.expired(request, queued_ms=0.0))
        cached, lookup = await processor.check_cache(request)
        if cached is not None:
            return self._finish(cached)
        state = None
        cost = cost_units(request, self.config.worker.scheduler.cost_unit)
        while True:
            outcome, _ = await serve_round(
                gate, processor, request, arrival=arrival, cost=cost, state=state, lookup=lookup
            )
            if outcome.retry is None:
                return self._finish(outcome)
            state = outcome.retry.state
            await asyncio.sleep(outcome.retry.delay_s)

    def _finish(self, outcome: Outcome) -> ChatResponse:
        response = outcome.response
        assert response is not None
        self.runtime.metrics.record_response(response)
        return response

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.runtime.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

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
import contextlib
import os
from collections.abc import AsyncGenerator
from typing import Any, Self

from prometheus_client import CollectorRegistry

from agents.outcomes import Outcome
from agents.serving import serve
from agents.streaming import CURRENT_STREAM, ChunkStream, whole_answer_chunk
from agents.token_estimate import cost_units
from infra import tracing
from infra.config_loader import load_config
from infra.log_context import content_fields, log_response, request_scope
from infra.metrics import RouterMetrics
from infra.tracing import Attr, SpanName
from schemas.config import RouterConfig
from schemas.events import ChatChunk, ChatMessage, ChatRequest, ChatResponse
from schemas.protocols import Publisher
from streams.config_reload import ReloadReport
from streams.publishers import NullPublisher
from streams.runtime import CLOSE_TIMEOUT_S, Engine, build_engine

__all__ = ["Router"]


class Router:
    """An in-process router. Create with :meth:`from_config`; use as an async context manager or call
    :meth:`aclose`."""

    def __init__(
        self,
        config: RouterConfig,
        *,
        publisher: Publisher | None = None,
        background: bool = True,
        watch: str | os.PathLike[str] | None = None,
    ) -> None:
        """``watch``: a config file to reload live when it changes (opt-in; :meth:`reload` does it by hand)."""
        self.config = config
        self._watch = watch
        self._publisher = publisher or NullPublisher()
        self._background = background
        self._metrics = RouterMetrics()  # before start: callers may register the registry early
        self._engine: Engine | None = None
        self._starting = asyncio.Lock()

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str] | None = None, *, env: dict[str, str] | None = None, **kw: Any
    ) -> Router:
        """Load and validate a YAML/JSON config (``None``: ``$LLM_ROUTER_CONFIG`` or the packaged default).
        ``watch=True``: reload the file live when it changes."""
        if kw.pop("watch", False) is True:
            kw["watch"] = path or (env if env is not None else os.environ).get("LLM_ROUTER_CONFIG")
        return cls(load_config(path, env=env), **kw)

    async def start(self) -> None:
        """Build the engine; with ``background`` also run health probes, shared circuits and cache sync.
        Called by the first :meth:`complete` if you do not."""
        if self._engine is not None:
            return
        async with self._starting:  # concurrent first calls build one engine
            if self._engine is None:
                engine = await build_engine(self.config, self._publisher, metrics=self._metrics)
                if self._background:
                    engine.start_background()
                if self._watch is not None:
                    engine.spawn(engine.watcher(self._watch).run(), "config-watch")
                self._engine = engine

    @property
    def engine(self) -> Engine:
        """The engine (built by :meth:`start`)."""
        if self._engine is None:
            raise RuntimeError("the router is not started: use `async with` or await router.start()")
        return self._engine

    #: the engine's former name, still used by :meth:`complete`
    runtime = engine

    async def reload(self, config: RouterConfig) -> ReloadReport:
        """Swap ``config`` in between requests (requests in flight finish under the old one); restart-only
        parts are reported in the result and left unchanged. Raises ConfigError with nothing changed."""
        await self.start()
        report = await self.engine.reload(config)
        self.config = self.engine.config
        return report

    @property
    def metrics(self) -> RouterMetrics:
        """Prometheus metrics; library mode never opens a port by itself: export ``metrics.registry``."""
        return self._metrics

    @property
    def metrics_registry(self) -> CollectorRegistry:
        """The Prometheus registry of this router (the same series a worker serves on ``/metrics``): register
        it with your own exporter, or read it with :meth:`metrics_text`."""
        return self._metrics.registry

    def metrics_text(self) -> str:
        """The metrics in Prometheus' text exposition format."""
        return self._metrics.exposition()

    async def ask(self, prompt: str, **fields: Any) -> ChatResponse:
        """Shortcut: one user message."""
        return await self.complete(ChatRequest(messages=[ChatMessage(role="user", content=prompt)], **fields))

    async def complete(self, request: ChatRequest | dict[str, Any]) -> ChatResponse:
        """Serve one request to its terminal response (``status`` ok or error; never raises for provider
        failures, exhausted retries, expired deadlines or unroutable models)."""
        if not isinstance(request, ChatRequest):
            request = ChatRequest.model_validate(request)
        await self.start()
        processor, gate = self.engine.processor, self.engine.gate
        assert processor is not None and gate is not None
        arrival = gate.clock()
        cost = cost_units(request, self.config.worker.scheduler.cost_unit)
        state = None
        attributes = {Attr.REQUEST_ID: request.request_id, Attr.PRIORITY: request.priority.value}
        with (
            tracing.span(SpanName.REQUEST, attributes=attributes),  # a child of the caller's current span
            request_scope(**_ids(request)),  # lines logged while serving carry its ids; the caller's are restored
        ):
            while True:  # the service's path, round after round; the retry waits here instead of in a delay topic
                outcome = await serve(request, processor, gate, arrival=arrival, cost=cost, state=state)
                if outcome.retry is None:
                    return self._finish(outcome)
                state = outcome.retry.state
                await asyncio.sleep(outcome.retry.delay_s)

    async def stream(self, request: ChatRequest | dict[str, Any]) -> AsyncGenerator[ChatChunk | ChatResponse, None]:
        """Serve ``request`` streamed: its :class:`ChatChunk` s in order as the provider sends them, then the
        terminal :class:`ChatResponse` (always last; usage and cost are there). Leaving the loop early (or
        cancelling it: a client went away) cancels the provider call. A call that fails after its first chunk
        is not failed over: the response reports the error (see :mod:`agents.streaming`)."""
        if not isinstance(request, ChatRequest):
            request = ChatRequest.model_validate(request)
        request = request.model_copy(update={"stream": True})
        queue: asyncio.Queue[ChatChunk | None] = asyncio.Queue()
        token = CURRENT_STREAM.set(ChunkStream(request, queue.put))
        try:
            task = asyncio.create_task(self.complete(request))  # the task keeps a copy of this context
        finally:
            CURRENT_STREAM.reset(token)
        task.add_done_callback(lambda _: queue.put_nowait(None))
        sent = 0
        try:
            while (chunk := await queue.get()) is not None:
                sent += 1
                yield chunk
            response = task.result()
            whole = whole_answer_chunk(response, sent)
            if whole is not None:
                yield whole
            yield response
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _finish(self, outcome: Outcome) -> ChatResponse:
        """Count and log the terminal response: one outcome line per request, as a worker writes."""
        response = outcome.response
        assert response is not None
        self._metrics.record_response(response)
        log_prompts = self.config.logging.log_prompts
        log_response(
            response, outcome.dead_letter, content=content_fields(outcome.request, response) if log_prompts else None
        )
        return response

    async def aclose(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Stop the background work and close every connection; returns within about ``timeout_s`` whatever
        they are doing (what did not finish is logged)."""
        if self._engine is not None:
            await self._engine.aclose(timeout_s)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _ids(request: ChatRequest) -> dict[str, Any]:
    return {
        "request_id": request.request_id,
        "tenant": request.tenant,
        "priority": request.priority.value,
        "model": request.model,
        "route": request.route,
    }

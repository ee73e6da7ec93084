"""One provider call for one candidate, with the backend's health told before and after: the only place that
talks to a provider. The caller gets a typed :class:`AttemptResult`, never an exception for a provider failure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from agents.circuit_breaker import Transition
from agents.health_board import HealthBoard
from agents.routing import Candidate
from agents.streaming import ChunkStream, current_stream
from infra.providers.http_errors import backend_fault, timeout_error
from infra.providers.pool import BackendPool
from schemas.errors import ProviderError
from schemas.events import ChatRequest
from schemas.protocols import Provider, ProviderCall, ProviderResult

__all__ = ["AttemptResult", "AttemptStatus", "ProviderCaller"]

_MIN_TIMEOUT_S = 0.001  # a call with its deadline already passed still gets a valid (tiny) timeout


class AttemptStatus(StrEnum):
    """How a call ended: answered, failed in a way another try may fix, refused by this backend for reasons of
    its own (credentials, model: the next candidate may serve it), or refused for good (the request is wrong)."""

    OK = "ok"
    FAILED = "failed"
    UNUSABLE = "unusable"
    REJECTED = "rejected"


@dataclass(frozen=True)
class AttemptResult:
    """One call: ``result`` when ``OK``, otherwise the ``error`` the provider adapter raised."""

    status: AttemptStatus
    elapsed_ms: float
    result: ProviderResult | None = None
    error: ProviderError | None = None


class ProviderCaller:
    """Calls a candidate's backend and keeps the health board (circuit breaker, latency) informed."""

    def __init__(
        self,
        pool: BackendPool,
        *,
        health: HealthBoard | None = None,
        on_transition: Callable[[Transition], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._pool = pool
        self._health = health
        self._notify = on_transition
        self._clock = clock

    def allowed(self, backend: str) -> bool:
        """False while the backend's circuit is open."""
        return self._health is None or self._health.allow(backend)

    def open_waits(self, candidates: list[Candidate]) -> list[float]:
        """Seconds until each candidate's circuit lets a call through again (``[0.0]`` without a board)."""
        if self._health is None:
            return [0.0]
        return [self._health.available_in(c.backend) for c in candidates]

    async def call(self, request: ChatRequest, candidate: Candidate, *, time_left_s: float | None) -> AttemptResult:
        """Call ``candidate`` within the backend's timeout, shortened to the request's time left."""
        timeout = self._pool.config(candidate.backend).timeout_s
        if time_left_s is not None:
            timeout = max(min(timeout, time_left_s), _MIN_TIMEOUT_S)
        call = ProviderCall(
            model=candidate.model,
            messages=request.messages,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            timeout_s=timeout,
            request_id=request.request_id,
            tools=request.tools,
            tool_choice=request.tool_choice,
            response_format=request.response_format,
            n=request.n,
            stop=request.stop,
            seed=request.seed,
            user=request.user,
        )
        if self._health is not None:
            self._health.begin(candidate.backend)
        t0 = self._clock()
        stream = current_stream(request)
        sent_before = stream.sent if stream is not None else 0
        provider = self._pool.get(candidate.backend)
        try:
            if getattr(provider, "bounds_call_time", False):  # the built-in adapters: one timer, theirs
                result = await self._complete(provider, call, candidate, stream)
            else:  # a plugin may ignore ``timeout_s``: bound it here
                async with asyncio.timeout(timeout):
                    result = await self._complete(provider, call, candidate, stream)
        except TimeoutError:
            exc = timeout_error(candidate.backend, timeout)
            return self._failed(candidate, exc, (self._clock() - t0) * 1000, broke_stream=_sent(stream, sent_before))
        except ProviderError as exc:
            return self._failed(candidate, exc, (self._clock() - t0) * 1000, broke_stream=_sent(stream, sent_before))
        except BaseException:
            if self._health is not None:
                self._health.end(candidate.backend, ok=None, latency_ms=0.0)
            raise
        elapsed = (self._clock() - t0) * 1000
        self._record(candidate.backend, True, elapsed)
        return AttemptResult(AttemptStatus.OK, elapsed, result=result)

    async def _complete(
        self, provider: Provider, call: ProviderCall, candidate: Candidate, stream: ChunkStream | None
    ) -> ProviderResult:
        """The whole answer, or (a streamed request) the answer streamed: each delta goes out as a chunk. A
        provider without ``stream`` sends its whole answer as one chunk."""
        if stream is None:
            return await provider.complete(call)
        on_delta = stream.for_backend(candidate.backend, candidate.model)
        streaming = getattr(provider, "stream", None)
        if streaming is not None:
            return await streaming(call, on_delta)
        result = await provider.complete(call)
        if result.content:
            await on_delta(result.content)
        return result

    def _failed(
        self, candidate: Candidate, exc: ProviderError, elapsed: float, *, broke_stream: int = 0
    ) -> AttemptResult:
        """Classify a failed call and tell the health board: a retriable error counts against the backend; the
        backend's own refusal (see :func:`backend_fault`) may switch it off at once; any other 4xx says nothing
        about the backend's health (neither success nor failure). A call that failed after ``broke_stream``
        chunks were sent is REJECTED: no failover, no retry (see :mod:`agents.streaming`)."""
        listed = candidate.model in self._pool.config(candidate.backend).models
        fault = backend_fault(exc, model_listed=listed)
        if fault is not None and not broke_stream:
            self._record(candidate.backend, False if fault.unhealthy else None, elapsed, fault.reason, fault.unhealthy)
            return AttemptResult(AttemptStatus.UNUSABLE, elapsed, error=exc)
        self._record(candidate.backend, False if exc.retriable else None, elapsed, exc.code)
        if broke_stream:
            exc = ProviderError(
                f"stream interrupted after {broke_stream} chunk(s), not failed over: {exc}",
                backend=candidate.backend,
                retriable=False,
                status=exc.status,
                code=exc.code,
            )
            return AttemptResult(AttemptStatus.REJECTED, elapsed, error=exc)
        status = AttemptStatus.FAILED if exc.retriable else AttemptStatus.REJECTED
        return AttemptResult(status, elapsed, error=exc)

    def _record(self, backend: str, ok: bool | None, latency_ms: float, reason: str = "", trip: bool = False) -> None:
        if self._health is not None:
            transition = self._health.end(backend, ok=ok, latency_ms=latency_ms, reason=reason, trip=trip)
            if transition is not None and self._notify is not None:
                self._notify(transition)


def _sent(stream: ChunkStream | None, before: int) -> int:
    """Chunks of this call already sent to the client."""
    return stream.sent - before if stream is not None else 0

"""The Faust agent acknowledges a record only after ``handle`` returned; when ``handle`` raises (WorkerStop: an
outcome could not be published), it stops the worker and leaves the record unacknowledged, so another member of
the group consumes it again (issue 13)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from agents.pipeline import RawMessage
from agents.router_agent import _agent
from schemas.errors import WorkerStop


@dataclass
class _Message:
    offset: int
    topic: str = "llm.requests.normal"
    partition: int = 0
    key: bytes | None = None
    value: bytes = b"{}"
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    timestamp: float | None = None


@dataclass
class _Event:
    message: _Message


class _Stream:
    """Faust's stream as the agent uses it: ``noack()`` then manual ``ack``."""

    def __init__(self, n: int) -> None:
        self._events = [_Event(_Message(i)) for i in range(n)]
        self.acked: list[int] = []
        self.manual = False

    def noack(self) -> _Stream:
        self.manual = True
        return self

    async def events(self) -> AsyncIterator[_Event]:
        assert self.manual, "events must not be auto-acknowledged"
        for event in self._events:
            yield event

    async def ack(self, event: _Event) -> bool:
        self.acked.append(event.message.offset)
        return True


class _Handler:
    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.seen: list[int] = []

    async def handle(self, raw: RawMessage) -> None:
        self.seen.append(raw.offset)
        if raw.offset == self.fail_at:
            raise WorkerStop("publishing the response to llm.responses failed 5 times: broker unreachable")


class _Stopper:
    def __init__(self) -> None:
        self.reasons: list[BaseException] = []

    async def __call__(self, reason: BaseException) -> None:
        self.reasons.append(reason)


async def _run(stream: _Stream, handler: _Handler, stop: _Stopper) -> None:
    agent: Any = _agent("router-normal", handler, stop)
    await agent(stream)


async def test_each_record_is_acknowledged_after_it_was_handled() -> None:
    stream, handler, stop = _Stream(3), _Handler(), _Stopper()
    await _run(stream, handler, stop)
    assert handler.seen == stream.acked == [0, 1, 2] and stop.reasons == []


async def test_a_worker_stop_leaves_the_record_unacknowledged_and_stops_the_worker() -> None:
    stream, handler, stop = _Stream(4), _Handler(fail_at=1), _Stopper()
    await _run(stream, handler, stop)
    assert stream.acked == [0]  # offset 1 is not acknowledged: the committed offset stays before it
    assert handler.seen == [0, 1]  # and nothing after it is consumed by this actor
    [reason] = stop.reasons
    assert isinstance(reason, WorkerStop)

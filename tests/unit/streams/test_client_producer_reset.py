"""Issue 13, broker restart: aiokafka's idempotent producer can be left rejecting every send with
OutOfOrderSequenceNumber after the broker comes back (aio-libs/aiokafka#1017); the client SDK then replaced
nothing and every later request failed until the process restarted (the chaos scenario broker_restart found it).
The client must replace its producer once and send again (the request id makes a second copy harmless)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import OutOfOrderSequenceNumber

from schemas.events import ChatMessage, ChatRequest
from schemas.wire import TopicNames
from streams.client import RouterClient


class _Producer:
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.sent: list[str] = []
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def send_and_wait(self, topic: str, value: bytes, **kw: object) -> None:
        await asyncio.sleep(0)
        if self.fail:
            raise OutOfOrderSequenceNumber()
        self.sent.append(topic)


def _request(i: int) -> ChatRequest:
    return ChatRequest(request_id=f"r-{i}", messages=[ChatMessage(role="user", content="hi")])


async def test_a_stuck_idempotent_producer_is_replaced_once_and_the_sends_go_through() -> None:
    client = RouterClient("127.0.0.1:9", topics=TopicNames("t"))
    stuck = _Producer(fail=True)
    fresh: list[_Producer] = []

    def new_producer() -> _Producer:
        fresh.append(_Producer(fail=False))
        return fresh[-1]

    client._producer = stuck  # type: ignore[assignment]
    client._new_producer = new_producer  # type: ignore[method-assign]
    await asyncio.gather(*(client.produce(_request(i)) for i in range(5)))
    assert len(fresh) == 1, "five failed sends replace the producer once"
    assert stuck.stopped and fresh[0].started
    assert fresh[0].sent == ["t.requests.normal"] * 5


async def test_a_producer_failing_again_after_its_replacement_raises() -> None:
    client = RouterClient("127.0.0.1:9", topics=TopicNames("t"))
    client._producer = _Producer(fail=True)  # type: ignore[assignment]
    client._new_producer = lambda: _Producer(fail=True)  # type: ignore[method-assign,assignment,return-value]
    with pytest.raises(OutOfOrderSequenceNumber):
        await client.produce(_request(0))


class _KeyRecorder(_Producer):
    def __init__(self) -> None:
        super().__init__(fail=False)
        self.keys: list[bytes] = []

    async def send_and_wait(self, topic: str, value: bytes, **kw: object) -> None:
        key = kw["key"]
        assert isinstance(key, bytes)
        self.keys.append(key)


async def test_requests_are_keyed_by_request_id_so_one_tenant_spreads_over_every_worker() -> None:
    """Keyed by tenant, one busy tenant's requests all landed on one partition and so on one worker of the group
    (the reload test's 110 req/s backlogged one worker by seconds while the other idled). Nothing orders requests
    (README: "Ordering: none between requests"), so the request id is the key."""
    client = RouterClient("127.0.0.1:9", topics=TopicNames("t"))
    recorder = _KeyRecorder()
    client._producer = recorder  # type: ignore[assignment]
    await asyncio.gather(*(client.produce(_request(i)) for i in range(3)))
    assert sorted(recorder.keys) == [b"r-0", b"r-1", b"r-2"]

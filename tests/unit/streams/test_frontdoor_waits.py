"""The door's waits without a broker: the SDK hands a re-sent request's answer to whoever waits now, and the
door coalesces HTTP requests with the same request id into one round trip."""

from __future__ import annotations

import asyncio

import pytest

from schemas.events import ChatMessage, ChatRequest, ChatResponse
from schemas.openai_api import ApiError
from schemas.wire import TopicNames, encode
from streams.client import RouterClient
from streams.frontdoor.engines import Coalescer


class _Sent:
    async def send_and_wait(self, topic: str, value: bytes, **kw: object) -> None:
        return None


def _request(rid: str = "r-1") -> ChatRequest:
    return ChatRequest(request_id=rid, messages=[ChatMessage(role="user", content="hi")])


async def test_a_resent_request_is_answered_to_the_one_waiting_now() -> None:
    client = RouterClient("127.0.0.1:9", topics=TopicNames("t"))
    client._producer = _Sent()
    answer = encode(ChatResponse(request_id="r-1", content="a"))
    first = await client.submit(_request())
    client._deliver(answer)
    assert (await first).content == "a"
    again = await client.submit(_request())  # the same id sent again (a retry after a timeout or a restart)
    client._deliver(answer)  # the router re-publishes the answer it remembered
    assert again.done() and again.result().content == "a"
    assert client.duplicates == 1  # still counted, and not streamed twice


async def test_an_abandoned_wait_is_dropped() -> None:
    client = RouterClient("127.0.0.1:9", topics=TopicNames("t"))
    client._producer = _Sent()
    with pytest.raises(TimeoutError):
        await client.complete(_request(), timeout_s=0.01)
    assert client._pending == {}


async def test_concurrent_requests_with_one_id_share_one_round_trip() -> None:
    calls: list[str] = []
    release = asyncio.Event()

    async def roundtrip(request: ChatRequest) -> ChatResponse:
        calls.append(request.request_id)
        await release.wait()
        return ChatResponse(request_id=request.request_id, content="once")

    coalescer = Coalescer(roundtrip)
    waits = [asyncio.create_task(coalescer.complete(_request(), 5)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    answers = await asyncio.gather(*waits)
    assert calls == ["r-1"] and {a.content for a in answers} == {"once"}
    assert coalescer._inflight == {}


async def test_the_last_waiter_to_give_up_cancels_the_round_trip_with_a_504() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def roundtrip(request: ChatRequest) -> ChatResponse:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    coalescer = Coalescer(roundtrip)
    with pytest.raises(ApiError) as caught:
        await coalescer.complete(_request(), 0.05)
    assert caught.value.status == 504 and "Idempotency-Key" in caught.value.message
    await asyncio.wait_for(cancelled.wait(), 5)
    assert started.is_set() and coalescer._inflight == {}

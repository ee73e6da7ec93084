"""Streaming through real Kafka and a real worker: the official ``openai`` client with ``stream=True`` against the
Kafka-backed door, and the Kafka client SDK reading the same chunk events from its reply topic."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from schemas.events import ChatChunk, ChatMessage, ChatRequest, ChatResponse, ErrorCode
from schemas.wire import decode, is_chunk
from streams.client import RouterClient
from tests.integration.helpers import read_records
from tests.integration.test_frontdoor import Door, door  # noqa: F401 (the fixture)

pytestmark = pytest.mark.integration


async def test_streamed_chunks_through_kafka_equal_the_whole_answer(door: Door) -> None:  # noqa: F811
    door.env.start_worker()
    door.start()
    await door.ready()
    client = door.client(timeout_s=120)
    fresh: list[Any] = [{"role": "user", "content": "a fresh prompt the cache has not seen"}]
    stream = await client.chat.completions.create(  # not cached yet: the provider's own chunks
        model="gpt-4o-mini", messages=fresh, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    whole = await client.chat.completions.create(model="gpt-4o-mini", messages=fresh)
    assert len(texts) > 3 and "".join(texts) == whole.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


async def test_the_client_sdk_consumes_the_chunks(door: Door) -> None:  # noqa: F811
    door.env.start_worker()
    request = ChatRequest(messages=[ChatMessage(role="user", content="stream me through the sdk")])
    async with RouterClient(door.env.config.kafka, topics=door.env.topics) as sdk:
        items = [item async for item in sdk.stream(request, timeout_s=120)]
    chunks = [i for i in items if isinstance(i, ChatChunk)]
    response = items[-1]
    assert isinstance(response, ChatResponse) and response.status == "ok"
    assert [c.index for c in chunks] == list(range(len(chunks))) and len(chunks) > 3
    assert "".join(c.delta for c in chunks) == response.content and response.usage.total_tokens > 0


async def test_a_client_that_leaves_mid_stream_stops_the_workers_provider_call(door: Door) -> None:  # noqa: F811
    """Issue 17: the door sends a cancel (``<prefix>.cancels``) when its client goes; the worker serving the
    request stops the provider call and publishes the terminal response ``cancelled``, with the estimated usage of
    what was streamed."""
    fake, backend = door.env.fake, door.env.backend
    fake.set_faults(backend, stream_interval_s=0.3)  # ~20 words: several seconds if nobody stops it
    door.env.start_worker()
    door.start()
    await door.ready()
    prompt: list[Any] = [{"role": "user", "content": " ".join(f"word{i}" for i in range(20))}]
    stream = await door.client(timeout_s=120).chat.completions.create(model="gpt-4o-mini", messages=prompt, stream=True)
    async for _ in stream:
        break
    await stream.close()
    deadline = asyncio.get_running_loop().time() + 30
    while fake.stats(backend)["abandoned"] < 1:
        assert asyncio.get_running_loop().time() < deadline, f"the provider call ran to its end: {fake.stats(backend)}"
        await asyncio.sleep(0.1)
    assert fake.stats(backend)["calls"] == 1
    replies = await read_records(door.env.config.kafka.bootstrap_servers, door.reply_topic, min_count=2)
    terminal = [decode(ChatResponse, r.value) for r in replies if not is_chunk(r.headers)]
    assert len(terminal) == 1, terminal
    assert terminal[0].error is not None and terminal[0].error.code == ErrorCode.CANCELLED
    assert terminal[0].usage.completion_tokens > 0

"""Streaming through real Kafka and a real worker: the official ``openai`` client with ``stream=True`` against the
Kafka-backed door, and the Kafka client SDK reading the same chunk events from its reply topic."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.events import ChatChunk, ChatMessage, ChatRequest, ChatResponse
from streams.client import RouterClient
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

"""``stream: true`` through the door with the inline engine and the fake provider, the official ``openai`` client
reading the server-sent events: chunks in order, their text the non-streamed answer, usage at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from infra.fake_provider.server import FakeProviderServer
from schemas.config import RouterConfig
from streams.frontdoor.door import FrontDoor
from tests.frontdoor_support import KEYS, door_config, running_door
from tests.functional.conftest import set_faults, stats


def _config(server: FakeProviderServer) -> RouterConfig:
    return door_config([{"name": "p", "base_url": server.backend_url("p"), "models": ["gpt-4o-mini"], "timeout_s": 5}])


@pytest.fixture
async def door(fake_server: FakeProviderServer) -> AsyncIterator[tuple[str, FrontDoor]]:
    async with running_door(_config(fake_server)) as running:
        yield running


def _client(base_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url, api_key=KEYS["app"], max_retries=0)


MESSAGES: list[Any] = [{"role": "user", "content": "please stream this answer to me"}]


async def test_streamed_chunks_arrive_in_order_and_add_up_to_the_whole_answer(door: tuple[str, FrontDoor]) -> None:
    url, _ = door
    client = _client(url)
    whole = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(texts) > 3 and "".join(texts) == whole.choices[0].message.content
    assert len({c.id for c in chunks}) == 1 and chunks[0].object == "chat.completion.chunk"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == whole.usage.total_tokens  # type: ignore[union-attr]


async def test_a_client_that_goes_away_cancels_the_provider_call(
    door: tuple[str, FrontDoor], fake_server: FakeProviderServer
) -> None:
    url, _ = door
    await set_faults(fake_server, "p", stream_interval_s=0.2)
    stream = await _client(url).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    async for _ in stream:
        break
    await stream.close()
    assert (await stats(fake_server, "p"))["calls"] == 1

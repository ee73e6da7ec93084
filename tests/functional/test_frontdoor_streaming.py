"""``stream: true`` through the door with the inline engine and the fake provider, the official ``openai`` client
reading the server-sent events: chunks in order, their text the non-streamed answer, usage at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest

from infra.fake_provider.server import FakeProviderServer
from schemas.config import RouterConfig
from streams.frontdoor.door import FrontDoor
from tests.frontdoor_support import KEYS, door_config, running_door
from tests.functional.conftest import set_faults, stats, until_stat


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
    await until_stat(fake_server, "p", "abandoned", 1)
    assert (await stats(fake_server, "p"))["calls"] == 1


async def test_a_client_that_gives_up_on_a_plain_completion_cancels_the_provider_call(
    door: tuple[str, FrontDoor], fake_server: FakeProviderServer
) -> None:
    """Not streamed: the door watches for the client's disconnect while it waits for the answer."""
    url, _ = door
    await set_faults(fake_server, "p", latency_ms=1500)
    async with httpx.AsyncClient(timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(
                f"{url}/chat/completions",
                json={"model": "gpt-4o-mini", "messages": MESSAGES},
                headers={"authorization": f"Bearer {KEYS['app']}"},
            )
    await until_stat(fake_server, "p", "abandoned", 1)


async def test_a_client_with_an_idempotency_key_that_leaves_finds_its_answer_on_retry(
    door: tuple[str, FrontDoor], fake_server: FakeProviderServer
) -> None:
    """The key says the client comes back: its leaving does not stop the call, and the retry joins it (one call)."""
    url, _ = door
    await set_faults(fake_server, "p", latency_ms=1000)
    body = {"model": "gpt-4o-mini", "messages": MESSAGES}
    headers = {"authorization": f"Bearer {KEYS['app']}", "idempotency-key": "order-77"}
    async with httpx.AsyncClient(timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(f"{url}/chat/completions", json=body, headers=headers)
    async with httpx.AsyncClient(timeout=30) as http:
        again = await http.post(f"{url}/chat/completions", json=body, headers=headers)
    assert again.status_code == 200, again.text
    assert (await stats(fake_server, "p"))["calls"] == 1
    assert (await stats(fake_server, "p"))["abandoned"] == 0

"""The fake provider counts calls per prompt when asked (``count_prompts``): the chaos benchmark puts each
request id in its prompt and reads how many provider calls every request cost."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from infra.fake_provider.server import PROMPT_KEY_CHARS, FakeProviderServer, prompt_key


@pytest.fixture
async def server() -> AsyncIterator[FakeProviderServer]:
    async with FakeProviderServer(seed=1) as srv:
        yield srv


async def _call(http: httpx.AsyncClient, srv: FakeProviderServer, backend: str, prompt: str) -> int:
    body = {"model": "m", "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": prompt}]}
    r = await http.post(f"{srv.backend_url(backend)}/chat/completions", json=body)
    return r.status_code


async def _counts(http: httpx.AsyncClient, srv: FakeProviderServer, backend: str) -> dict[str, int]:
    r = await http.get(f"{srv.url}/admin/backends/{backend}/prompts")
    r.raise_for_status()
    return dict(r.json()["calls"])


async def test_calls_are_counted_per_prompt_only_when_the_plan_asks(server: FakeProviderServer) -> None:
    async with httpx.AsyncClient() as http:
        assert await _call(http, server, "b", "before counting") == 200
        (await http.put(f"{server.url}/admin/backends/b/faults", json={"count_prompts": True})).raise_for_status()
        for prompt in ("req-1", "req-2", "req-1", "req-1"):
            assert await _call(http, server, "b", prompt) == 200
        assert await _counts(http, server, "b") == {"req-1": 3, "req-2": 1}
        assert await _counts(http, server, "other") == {}


async def test_refused_calls_count_too_and_reset_clears(server: FakeProviderServer) -> None:
    """A call the backend failed is still a call the router made (a retry costs one more)."""
    async with httpx.AsyncClient() as http:
        plan = {"count_prompts": True, "outage": True}
        (await http.put(f"{server.url}/admin/backends/b/faults", json=plan)).raise_for_status()
        assert await _call(http, server, "b", "x" * (PROMPT_KEY_CHARS + 50)) == 503
        assert await _counts(http, server, "b") == {"x" * PROMPT_KEY_CHARS: 1}
        (await http.post(f"{server.url}/admin/reset")).raise_for_status()
        assert await _counts(http, server, "b") == {}


def test_the_key_is_the_last_user_message() -> None:
    msgs = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "q"},
    ]
    assert prompt_key(msgs) == "q"
    assert prompt_key([{"role": "system", "content": "s"}]) == ""

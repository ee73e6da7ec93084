"""Hostile bodies get the provider's own 400, never a crash of the fake provider's handler (a 500 would read as
an outage to the router and be retried)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from infra.fake_provider.server import FakeProviderServer


@pytest.fixture
async def server() -> AsyncIterator[FakeProviderServer]:
    async with FakeProviderServer(seed=1) as srv:
        yield srv


BODIES: list[tuple[str, str, Any]] = [
    ("openai", "/chat/completions", {"model": "m", "messages": []}),
    ("openai", "/chat/completions", {"model": "m", "messages": [[]]}),
    ("openai", "/chat/completions", {"model": "m", "messages": "hello"}),
    ("anthropic", "/messages", {"model": "m", "max_tokens": 5, "messages": []}),
    ("gemini", "/models/m:generateContent", {"contents": []}),
]


@pytest.mark.parametrize(("wire", "path", "body"), BODIES)
async def test_an_empty_or_malformed_conversation_is_a_400(
    server: FakeProviderServer, wire: str, path: str, body: Any
) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{server.backend_url('b', wire)}{path}", json=body)
        assert r.status_code == 400, r.text
        assert "error" in r.json()
        ok = await http.post(
            f"{server.backend_url('b')}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "still up?"}]},
        )
        assert ok.status_code == 200

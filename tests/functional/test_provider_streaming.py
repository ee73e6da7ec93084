"""Each provider adapter streaming from the fake provider over real HTTP: the deltas arrive in order, their text
is the whole answer, and the streamed result equals the non-streamed one (finish reason and usage included)."""

from __future__ import annotations

import httpx
import pytest

from infra.fake_provider.server import FakeProviderServer
from infra.providers.registry import default_registry
from schemas.config import BackendConfig
from schemas.events import ChatMessage
from schemas.protocols import ProviderCall


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
async def test_a_streamed_answer_equals_the_whole_one(fake_server: FakeProviderServer, kind: str) -> None:
    backend = BackendConfig.model_validate(
        {"name": "s", "provider": kind, "base_url": fake_server.backend_url("s", kind), "models": ["m-1"]}
    )
    call = ProviderCall(model="m-1", messages=[ChatMessage(role="user", content="tell me three things")])
    async with httpx.AsyncClient() as client:
        provider = default_registry().create(backend, client, None)
        whole = await provider.complete(call)
        deltas: list[str] = []

        async def on_delta(text: str) -> None:
            deltas.append(text)

        streamed = await provider.stream(call, on_delta)  # type: ignore[attr-defined]
    assert len(deltas) > 3 and "".join(deltas) == whole.content == streamed.content
    assert streamed.finish_reason == whole.finish_reason == "stop"
    assert streamed.usage == whole.usage and streamed.model == whole.model

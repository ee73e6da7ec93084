"""The OpenAI adapter against the fake provider over real HTTP."""

import time

import httpx
import pytest

from infra.fake_provider.server import FakeProviderServer
from infra.providers.openai import OpenAIProvider
from schemas.config import BackendConfig
from schemas.errors import ProviderError
from schemas.events import ChatMessage
from schemas.protocols import ProviderCall
from tests.functional.conftest import set_faults, stats


def _call(**kw: object) -> ProviderCall:
    return ProviderCall(model="gpt-4o-mini", messages=[ChatMessage(role="user", content="How to learn Python")], **kw)  # type: ignore[arg-type]


async def _provider(server: FakeProviderServer, name: str = "p1", key: str | None = None) -> OpenAIProvider:
    backend = BackendConfig(name=name, base_url=server.backend_url(name), models=["*"])
    return OpenAIProvider(backend, httpx.AsyncClient(), key)


async def test_success_maps_content_usage_and_finish_reason(fake_server: FakeProviderServer) -> None:
    provider = await _provider(fake_server)
    result = await provider.complete(_call(max_tokens=50, temperature=0.1))
    assert result.content == "[gpt-4o-mini] answer to: How to learn Python"
    assert result.model == "gpt-4o-mini"
    assert result.finish_reason == "stop"
    assert result.usage.prompt_tokens == 4 and result.usage.completion_tokens == 7
    assert (await stats(fake_server, "p1"))["ok"] == 1


async def test_max_tokens_is_sent_on_the_wire(fake_server: FakeProviderServer) -> None:
    provider = await _provider(fake_server)
    result = await provider.complete(_call(max_tokens=2))
    assert result.content == "[gpt-4o-mini] answer"


@pytest.mark.parametrize(("status", "retriable"), [(400, False), (401, False), (500, True), (503, True)])
async def test_error_status_classification(fake_server: FakeProviderServer, status: int, retriable: bool) -> None:
    await set_faults(fake_server, "p1", error_rate=1.0, error_status=status)
    provider = await _provider(fake_server)
    with pytest.raises(ProviderError) as info:
        await provider.complete(_call())
    assert info.value.status == status
    assert info.value.retriable is retriable
    assert info.value.backend == "p1"


async def test_rate_limit_carries_retry_after(fake_server: FakeProviderServer) -> None:
    await set_faults(fake_server, "p1", rate_limit_rate=1.0, retry_after_s=2.5)
    provider = await _provider(fake_server)
    with pytest.raises(ProviderError) as info:
        await provider.complete(_call())
    assert (info.value.status, info.value.retriable, info.value.retry_after) == (429, True, 2.5)


async def test_timeout_is_retriable_and_bounded(fake_server: FakeProviderServer) -> None:
    await set_faults(fake_server, "p1", latency_ms=2000)
    provider = await _provider(fake_server)
    t0 = time.monotonic()
    with pytest.raises(ProviderError) as info:
        await provider.complete(_call(timeout_s=0.2))
    assert info.value.code == "provider_timeout" and info.value.retriable
    assert time.monotonic() - t0 < 1.5


async def test_connection_refused_is_retriable() -> None:
    backend = BackendConfig(name="gone", base_url="http://127.0.0.1:9/v1", models=["*"])
    provider = OpenAIProvider(backend, httpx.AsyncClient(), None)
    with pytest.raises(ProviderError) as info:
        await provider.complete(_call(timeout_s=2))
    assert info.value.code == "provider_unreachable" and info.value.retriable


def test_body_uses_openai_wire_format() -> None:
    body = OpenAIProvider(
        BackendConfig(name="o", base_url="http://x/v1", models=["*"]), httpx.AsyncClient(), None
    ).build_body(_call(max_tokens=5, temperature=0.0))
    assert body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "How to learn Python"}],
        "max_tokens": 5,
        "temperature": 0.0,
    }


async def test_api_key_goes_into_authorization_header_only() -> None:
    seen: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        assert b"sk-secret" not in request.content
        return httpx.Response(200, json={"model": "m", "choices": [{"message": {"content": "ok"}}]})

    backend = BackendConfig(name="k", base_url="http://example.invalid/v1", models=["*"])
    provider = OpenAIProvider(backend, httpx.AsyncClient(transport=httpx.MockTransport(handler)), "sk-secret")
    result = await provider.complete(_call())
    assert seen["authorization"] == "Bearer sk-secret"
    assert result.content == "ok" and result.usage.total_tokens == 0


async def test_malformed_body_is_a_retriable_protocol_error() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"choices": []}))
    provider = OpenAIProvider(
        BackendConfig(name="m", base_url="http://x/v1", models=["*"]), httpx.AsyncClient(transport=transport), None
    )
    with pytest.raises(ProviderError) as info:
        await provider.complete(_call())
    assert info.value.code == "provider_protocol_error"

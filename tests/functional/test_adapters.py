"""All provider adapters against the fake server's matching wire format, over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from infra.fake_provider.server import FakeProviderServer
from infra.providers.registry import default_registry
from schemas.config import BackendConfig
from schemas.errors import ProviderError
from schemas.events import ChatMessage
from schemas.protocols import Provider, ProviderCall
from tests.functional.conftest import set_faults, stats

KINDS = ["openai", "openai-compatible", "anthropic", "gemini"]


def _wire(kind: str) -> str:
    return "openai" if kind.startswith("openai") else kind


def _provider(server: FakeProviderServer, kind: str, name: str = "be") -> Provider:
    backend = BackendConfig(name=name, provider=kind, base_url=server.backend_url(name, _wire(kind)), models=["*"])
    return default_registry().create(backend, httpx.AsyncClient(), "test-key")


def _call(**kw: object) -> ProviderCall:
    messages = [
        ChatMessage(role="system", content="be brief"),
        ChatMessage(role="user", content="How to learn Python"),
    ]
    return ProviderCall(model="m-1", messages=messages, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
async def test_success_is_mapped_faithfully(fake_server: FakeProviderServer, kind: str) -> None:
    result = await _provider(fake_server, kind).complete(_call(max_tokens=100, temperature=0.2))
    assert result.content == "[m-1] answer to: How to learn Python"
    assert result.model == "m-1"
    assert result.finish_reason == "stop"
    assert result.usage.prompt_tokens == 6  # "be brief" + "How to learn Python"
    assert result.usage.completion_tokens == 7


@pytest.mark.parametrize("kind", KINDS)
async def test_max_tokens_reaches_the_server(fake_server: FakeProviderServer, kind: str) -> None:
    result = await _provider(fake_server, kind).complete(_call(max_tokens=3))
    assert result.content == "[m-1] answer to:"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("status", "retriable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (529, True),
    ],
)
async def test_error_classes(fake_server: FakeProviderServer, kind: str, status: int, retriable: bool) -> None:
    await set_faults(fake_server, "be", error_rate=1.0, error_status=status, retry_after_s=None)
    with pytest.raises(ProviderError) as info:
        await _provider(fake_server, kind).complete(_call())
    assert (info.value.status, info.value.retriable) == (status, retriable)
    assert "injected error" in info.value.message  # the provider's own error message is surfaced


@pytest.mark.parametrize("kind", KINDS)
async def test_429_retry_after_is_parsed(fake_server: FakeProviderServer, kind: str) -> None:
    await set_faults(fake_server, "be", rate_limit_rate=1.0, retry_after_s=1.5)
    with pytest.raises(ProviderError) as info:
        await _provider(fake_server, kind).complete(_call())
    assert (info.value.code, info.value.retry_after) == ("rate_limited", 1.5)


@pytest.mark.parametrize("kind", KINDS)
async def test_outage_is_retriable_503(fake_server: FakeProviderServer, kind: str) -> None:
    await set_faults(fake_server, "be", outage=True, retry_after_s=2)
    with pytest.raises(ProviderError) as info:
        await _provider(fake_server, kind).complete(_call())
    assert (info.value.status, info.value.retriable, info.value.retry_after) == (503, True, 2.0)


@pytest.mark.parametrize("kind", KINDS)
async def test_hang_past_timeout_is_a_retriable_timeout(fake_server: FakeProviderServer, kind: str) -> None:
    await set_faults(fake_server, "be", hang_rate=1.0, hang_s=30)
    t0 = time.monotonic()
    with pytest.raises(ProviderError) as info:
        await _provider(fake_server, kind).complete(_call(timeout_s=0.3))
    assert info.value.code == "provider_timeout" and info.value.retriable
    assert time.monotonic() - t0 < 2


@pytest.mark.parametrize("kind", KINDS)
async def test_connection_reset_is_retriable(fake_server: FakeProviderServer, kind: str) -> None:
    await set_faults(fake_server, "be", reset_rate=1.0)
    with pytest.raises(ProviderError) as info:
        await _provider(fake_server, kind).complete(_call(timeout_s=5))
    assert info.value.retriable and info.value.code == "provider_unreachable"
    assert (await stats(fake_server, "be"))["resets"] == 1


async def test_outage_window_heals_by_itself() -> None:
    now = [1000.0]  # the server's clock: the window ends when it moves, not when real time passes
    async with FakeProviderServer(seed=1, clock=lambda: now[0]) as server:
        await set_faults(server, "be", outage_for_s=0.5)
        provider = _provider(server, "openai")
        for at in (1000.0, 1000.49):  # from the start to just before the end of the window: 503
            now[0] = at
            with pytest.raises(ProviderError) as info:
                await provider.complete(_call())
            assert (info.value.status, info.value.retriable) == (503, True), at
        now[0] = 1000.5  # the window is over: served again, without anyone clearing the fault
        result = await provider.complete(_call())
        assert result.content == "[m-1] answer to: How to learn Python" and result.finish_reason == "stop"
        assert (await stats(server, "be"))["outage_rejected"] == 2


def test_anthropic_body_moves_system_out_and_merges_turns() -> None:
    from infra.providers.anthropic import AnthropicProvider

    p = AnthropicProvider(
        BackendConfig(name="a", provider="anthropic", base_url="http://x/v1", models=["*"]), httpx.AsyncClient(), "k"
    )
    call = ProviderCall(
        model="claude",
        messages=[
            ChatMessage(role="system", content="sys"),
            ChatMessage(role="user", content="a"),
            ChatMessage(role="user", content="b"),
        ],
        temperature=1.7,
    )
    body = p.build_body(call)
    assert body["system"] == "sys"
    assert body["messages"] == [{"role": "user", "content": "a\n\nb"}]
    assert body["max_tokens"] == 1024 and body["temperature"] == 1.0
    assert p.auth_headers() == {"anthropic-version": "2023-06-01", "x-api-key": "k"}


def test_gemini_key_is_a_header_not_in_the_url() -> None:
    from infra.providers.gemini import GeminiProvider

    p = GeminiProvider(
        BackendConfig(name="g", provider="gemini", base_url="http://x/v1beta", models=["*"]),
        httpx.AsyncClient(),
        "secret",
    )
    assert "secret" not in p.url(_call())
    assert p.url(_call()) == "http://x/v1beta/models/m-1:generateContent"
    assert p.auth_headers() == {"x-goog-api-key": "secret"}
    body = p.build_body(_call(max_tokens=5))
    assert body["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "How to learn Python"}]}]
    assert body["generationConfig"] == {"maxOutputTokens": 5}


async def test_gemini_retry_info_and_openai_reset_headers() -> None:
    from infra.providers.gemini import GeminiProvider
    from infra.providers.openai import OpenAIProvider

    gem_body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "quota",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}],
        }
    }
    gem = GeminiProvider(
        BackendConfig(name="g", provider="gemini", base_url="http://x/v1beta", models=["*"]),
        httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(429, json=gem_body))),
        None,
    )
    with pytest.raises(ProviderError) as info:
        await gem.complete(_call())
    assert info.value.retry_after == 7.0

    headers = {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}
    oai = OpenAIProvider(
        BackendConfig(name="o", base_url="http://x/v1", models=["*"]),
        httpx.AsyncClient(
            transport=httpx.MockTransport(
                lambda r: httpx.Response(429, json={"error": {"message": "slow"}}, headers=headers)
            )
        ),
        None,
    )
    with pytest.raises(ProviderError) as info:
        await oai.complete(_call())
    assert info.value.retry_after == 360.0

"""``providers.http_transport``: the provider adapters behave the same on aiohttp's transport as on httpx's own —
answers, streaming, error statuses with Retry-After, resets, refused connections, the one overall deadline —
over real HTTP against the fake provider."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from benchmarks.harness import free_port
from infra.config_loader import parse_config
from infra.fake_provider.server import FakeProviderServer
from infra.providers.http_client import AiohttpClient, AiohttpTransport, build_http_client
from infra.providers.pool import BackendPool
from schemas.config import BackendConfig, HttpTransport, RouterConfig
from schemas.errors import ProviderError
from schemas.events import ChatMessage, ErrorCode
from schemas.protocols import ProviderCall
from tests.functional.conftest import set_faults

TRANSPORTS: tuple[HttpTransport, ...] = ("aiohttp", "httpx")
MARGIN_S = 0.3  # see tests/functional/test_deadlines.py


def _config(base_url: str, transport: HttpTransport) -> RouterConfig:
    backends = [{"name": "b1", "base_url": base_url, "models": ["m"], "timeout_s": 30}]
    return parse_config(json.dumps({"backends": backends, "providers": {"http_transport": transport}}), env={})


def _call(content: str = "hello there", timeout_s: float = 30.0) -> ProviderCall:
    return ProviderCall(model="m", messages=[ChatMessage(role="user", content=content)], timeout_s=timeout_s)


@pytest.fixture(params=TRANSPORTS)
async def pool(request: pytest.FixtureRequest, fake_server: FakeProviderServer) -> AsyncIterator[BackendPool]:
    cfg = _config(fake_server.backend_url("b1"), request.param)
    pool = BackendPool(cfg.backends, transport=cfg.providers.http_transport)
    yield pool
    await pool.aclose()


async def test_answers_and_keeps_the_connection(pool: BackendPool) -> None:
    results = [await pool.get("b1").complete(_call(f"q{i}")) for i in range(5)]
    assert [r.content for r in results] == [f"[m] answer to: q{i}" for i in range(5)]
    assert all(r.usage.total_tokens > 0 for r in results)


async def test_streams_deltas_in_order(pool: BackendPool) -> None:
    deltas: list[str] = []

    async def sink(delta: str) -> None:
        deltas.append(delta)

    result = await pool.get("b1").stream(_call("stream me please"), sink)
    assert len(deltas) > 1
    assert "".join(deltas) == result.content == "[m] answer to: stream me please"


async def test_429_carries_retry_after(pool: BackendPool, fake_server: FakeProviderServer) -> None:
    await set_faults(fake_server, "b1", rate_limit_rate=1.0, retry_after_s=7)
    with pytest.raises(ProviderError) as err:
        await pool.get("b1").complete(_call())
    assert (err.value.status, err.value.retriable, err.value.retry_after) == (429, True, 7.0)
    assert err.value.code == ErrorCode.RATE_LIMITED


async def test_500_is_retriable_and_unavailable(pool: BackendPool, fake_server: FakeProviderServer) -> None:
    await set_faults(fake_server, "b1", error_rate=1.0, error_status=502)
    with pytest.raises(ProviderError) as err:
        await pool.get("b1").complete(_call())
    assert (err.value.status, err.value.retriable, err.value.code) == (502, True, ErrorCode.PROVIDER_UNAVAILABLE)


async def test_a_reset_connection_is_unreachable_not_a_timeout(
    pool: BackendPool, fake_server: FakeProviderServer
) -> None:
    await set_faults(fake_server, "b1", reset_rate=1.0)
    with pytest.raises(ProviderError) as err:
        await pool.get("b1").complete(_call())
    assert (err.value.code, err.value.retriable) == (ErrorCode.PROVIDER_UNREACHABLE, True)
    await set_faults(fake_server, "b1")
    assert (await pool.get("b1").complete(_call("after"))).content == "[m] answer to: after"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_refused_connection_is_unreachable(transport: HttpTransport) -> None:
    cfg = _config(f"http://127.0.0.1:{free_port()}/v1", transport)
    pool = BackendPool(cfg.backends, transport=transport)
    try:
        with pytest.raises(ProviderError) as err:
            await pool.get("b1").complete(_call())
    finally:
        await pool.aclose()
    assert (err.value.code, err.value.retriable) == (ErrorCode.PROVIDER_UNREACHABLE, True)


async def test_a_trickling_answer_ends_at_the_call_timeout(pool: BackendPool, fake_server: FakeProviderServer) -> None:
    await set_faults(fake_server, "b1", trickle_rate=1.0, trickle_bytes=16, trickle_interval_s=0.2)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(ProviderError) as err:
        await pool.get("b1").complete(_call("a prompt long enough to trickle for several seconds", timeout_s=1.0))
    assert err.value.code == ErrorCode.PROVIDER_TIMEOUT
    assert loop.time() - t0 < 1.0 + MARGIN_S


async def test_a_hanging_stream_ends_at_the_call_timeout(pool: BackendPool, fake_server: FakeProviderServer) -> None:
    await set_faults(fake_server, "b1", hang_rate=1.0, hang_s=30)

    async def sink(delta: str) -> None:
        raise AssertionError(f"no delta expected, got {delta!r}")

    with pytest.raises(ProviderError) as err:
        await pool.get("b1").stream(_call(timeout_s=0.5), sink)
    assert err.value.code == ErrorCode.PROVIDER_TIMEOUT


async def test_a_per_step_read_timeout_maps_to_a_provider_timeout(fake_server: FakeProviderServer) -> None:
    """httpx's own per-read timeout (shorter than the overall one) surfaces as httpx.ReadTimeout on both."""
    await set_faults(fake_server, "b1", hang_rate=1.0, hang_s=30)
    for transport in TRANSPORTS:
        backend = BackendConfig(name="b1", base_url=fake_server.backend_url("b1"), models=["m"], timeout_s=0.3)
        async with build_http_client(backend, transport) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.post(
                    f"{backend.base_url}/chat/completions",
                    json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                )


async def test_the_pool_builds_the_configured_transport_and_rebuilds_on_a_change() -> None:
    backends = _config("http://127.0.0.1:1/v1", "aiohttp").backends
    first = BackendPool(backends, transport="aiohttp")
    same = BackendPool(backends, transport="aiohttp", reuse=first)
    other = BackendPool(backends, transport="httpx", reuse=first)
    try:
        assert isinstance(first.client("b1")._transport, AiohttpTransport)
        assert same.get("b1") is first.get("b1")
        assert other.get("b1") is not first.get("b1")
        assert not isinstance(other.client("b1")._transport, AiohttpTransport)
    finally:
        for p in (first, other):
            await p.aclose()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("wire", ["anthropic", "gemini"])
async def test_every_wire_format_answers_and_maps_429(
    transport: HttpTransport, wire: str, fake_server: FakeProviderServer
) -> None:
    backend = {"name": wire, "provider": wire, "base_url": fake_server.backend_url(wire, wire), "models": ["m"]}
    cfg = parse_config(json.dumps({"backends": [backend], "providers": {"http_transport": transport}}), env={})
    pool = BackendPool(cfg.backends, transport=transport)
    try:
        assert (await pool.get(wire).complete(_call("hi"))).content == "[m] answer to: hi"
        await set_faults(fake_server, wire, rate_limit_rate=1.0, retry_after_s=3)
        with pytest.raises(ProviderError) as err:
            await pool.get(wire).complete(_call())
    finally:
        await pool.aclose()
    assert (err.value.status, err.value.retry_after, err.value.code) == (429, 3.0, ErrorCode.RATE_LIMITED)


async def test_a_closed_aiohttp_client_refuses_calls_as_httpx_does(fake_server: FakeProviderServer) -> None:
    """No silent new connection pool behind a closed client (it would never be closed)."""
    backend = BackendConfig(name="b1", base_url=fake_server.backend_url("b1"), models=["m"])
    client = build_http_client(backend, "aiohttp")
    assert isinstance(client, AiohttpClient)
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.post_json(f"{backend.base_url}/chat/completions", {"model": "m"}, {})
    with pytest.raises(RuntimeError, match="closed"):
        await client.post(f"{backend.base_url}/chat/completions", json={"model": "m"})

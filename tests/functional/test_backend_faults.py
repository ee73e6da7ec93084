"""Issue 12, finding 9: a backend that refuses its own credentials (401/403) or lacks the model (404) is failed
over to the next candidate and switched off (its circuit opens, a health event says why); a 400 is the
request's own fault and stays terminal; health probes count credential errors as unhealthy. Over real HTTP
against the fake provider."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from agents.circuit_breaker import CircuitState
from agents.health_board import HealthBoard
from agents.health_service import HealthService
from agents.processor import RequestProcessor
from agents.routing import ModelRouter
from infra.circuit_store import NullCircuitStore
from infra.config_loader import parse_config
from infra.fake_provider.server import FakeProviderServer
from infra.providers.http_errors import backend_fault
from infra.providers.pool import BackendPool
from infra.providers.registry import default_registry
from schemas.config import BackendConfig, RouterConfig
from schemas.errors import ProviderError
from schemas.events import ChatMessage, ChatRequest, DeadLetterReason, HealthEvent
from schemas.protocols import Provider, ProviderCall
from schemas.wire import decode
from streams.publishers import MemoryPublisher
from tests.functional.conftest import set_faults, stats

HEALTH = "t.health"


def _config(server: FakeProviderServer, b1_models: list[str]) -> RouterConfig:
    backends = [
        {"name": "b1", "base_url": server.backend_url("b1"), "models": b1_models, "timeout_s": 2},
        {"name": "b2", "base_url": server.backend_url("b2"), "models": ["gpt-4o-mini"], "timeout_s": 2},
    ]
    worker = {"retry": {"max_attempts": 4, "base_delay_s": 0.01, "max_delay_s": 0.05}}
    return parse_config(json.dumps({"worker": worker, "backends": backends}), env={})


@dataclass
class Router:
    now: list[float]  # the health board's clock
    processor: RequestProcessor
    board: HealthBoard
    health: HealthService
    published: MemoryPublisher

    def events(self, backend: str) -> list[HealthEvent]:
        found = [decode(HealthEvent, r.value) for r in self.published.on(HEALTH)]
        return [e for e in found if e.backend == backend]


async def _router(cfg: RouterConfig) -> AsyncIterator[Router]:
    pool = BackendPool(cfg.backends)
    now = [1000.0]
    board = HealthBoard([b.name for b in cfg.backends], cfg.health, clock=lambda: now[0])
    published = MemoryPublisher()
    health = HealthService(board, NullCircuitStore(), published, HEALTH, pool, cfg.health)
    processor = RequestProcessor(
        pool, ModelRouter(cfg), cfg.worker.retry, health=board, on_transition=health.notify, worker_id="w1"
    )
    try:
        yield Router(now, processor, board, health, published)
    finally:
        await health.aclose()
        await pool.aclose()


@pytest.fixture
async def router(fake_server: FakeProviderServer) -> AsyncIterator[Router]:
    async for r in _router(_config(fake_server, ["gpt-4o-mini"])):
        yield r


@pytest.fixture
async def wildcard_router(fake_server: FakeProviderServer) -> AsyncIterator[Router]:
    async for r in _router(_config(fake_server, ["*"])):
        yield r


def _req(model: str = "gpt-4o-mini") -> ChatRequest:
    return ChatRequest(model=model, messages=[ChatMessage(role="user", content="hello")])


@pytest.mark.parametrize(
    ("faults", "code", "why"),
    [
        ({"api_key": "the-right-key"}, "provider_auth", "credentials rejected (401)"),
        ({"error_rate": 1.0, "error_status": 403}, "provider_auth", "access denied (403)"),
        ({"models": ["another-model"]}, "provider_model_not_found", "model not found (404)"),
    ],
)
async def test_a_backend_refusing_the_call_is_failed_over_and_switched_off(
    fake_server: FakeProviderServer, router: Router, faults: dict[str, object], code: str, why: str
) -> None:
    await set_faults(fake_server, "b1", **faults)
    outcome = await router.processor.process(_req())
    assert outcome.response is not None and outcome.response.status == "ok" and outcome.response.backend == "b2"
    assert [(a.backend, a.ok, a.error_code) for a in outcome.response.attempts] == [
        ("b1", False, code),
        ("b2", True, None),
    ]
    assert router.board.state("b1") is CircuitState.OPEN
    await router.health.flush()
    [event] = router.events("b1")
    assert (event.state, event.circuit, event.reason) == ("down", "open", why)
    again = await router.processor.process(_req())  # the open circuit is skipped: no second call to b1
    assert again.response is not None and again.response.backend == "b2"
    assert (await stats(fake_server, "b1"))["calls"] == 1


async def test_a_bad_request_stays_terminal_and_leaves_the_backend_healthy(
    fake_server: FakeProviderServer, router: Router
) -> None:
    await set_faults(fake_server, "b1", error_rate=1.0, error_status=400)
    outcome = await router.processor.process(_req())
    assert outcome.response is not None and outcome.response.error is not None
    assert outcome.response.error.code == "provider_rejected"
    assert outcome.dead_letter is DeadLetterReason.PROVIDER_REJECTED
    assert (await stats(fake_server, "b2"))["calls"] == 0
    assert router.board.state("b1") is CircuitState.CLOSED


async def test_a_model_the_backend_only_matched_by_wildcard_fails_over_without_switching_it_off(
    fake_server: FakeProviderServer, wildcard_router: Router
) -> None:
    """b1 serves "*": a 404 there says the request named a model b1 lacks, not that b1 is broken. Opening its
    circuit would let any tenant switch a backend off for everyone by naming a model that does not exist."""
    await set_faults(fake_server, "b1", models=["something-else"])
    outcome = await wildcard_router.processor.process(_req())
    assert outcome.response is not None and outcome.response.backend == "b2"
    assert wildcard_router.board.state("b1") is CircuitState.CLOSED


async def test_every_backend_refusing_its_credentials_ends_the_request_at_once(
    fake_server: FakeProviderServer, router: Router
) -> None:
    """Nothing left to fail over to and every circuit open: a retry could only wait for the same refusal."""
    for backend in ("b1", "b2"):
        await set_faults(fake_server, backend, api_key="the-right-key")
    outcome = await router.processor.process(_req())
    assert outcome.retry is None and outcome.response is not None and outcome.response.error is not None
    assert outcome.response.error.code == "provider_auth" and not outcome.response.error.retriable
    assert "b2" in outcome.response.error.message and len(outcome.response.attempts) == 2
    assert outcome.dead_letter is DeadLetterReason.PROVIDER_REJECTED
    assert [router.board.state(b) for b in ("b1", "b2")] == [CircuitState.OPEN, CircuitState.OPEN]


async def test_a_probe_of_a_backend_rejecting_its_credentials_reports_it_down(
    fake_server: FakeProviderServer, router: Router
) -> None:
    await set_faults(fake_server, "b1", error_rate=1.0, error_status=401)
    await set_faults(fake_server, "b2", error_rate=1.0, error_status=400)  # up, only the probe is refused
    router.now[0] += router.board.settings.healthy_probe_interval_s  # both probes due
    await router.health.probe_once(wait=True)
    await router.health.flush()
    assert router.board.status["b1"].last_probe_ok is False
    assert router.board.state("b1") is CircuitState.OPEN
    [event] = router.events("b1")
    assert (event.state, event.reason) == ("down", "health probe failed: credentials rejected (401)")
    assert router.board.status["b2"].last_probe_ok is True
    assert router.board.state("b2") is CircuitState.CLOSED


KINDS = ["openai", "anthropic", "gemini"]


def _adapter(server: FakeProviderServer, kind: str, key: str) -> Provider:
    base_url = server.backend_url("be", "gemini" if kind == "gemini" else "openai")
    backend = BackendConfig(name="be", provider=kind, base_url=base_url, models=["m-1"])
    return default_registry().create(backend, httpx.AsyncClient(), key)


def _call() -> ProviderCall:
    return ProviderCall(model="m-1", messages=[ChatMessage(role="user", content="hi")], timeout_s=5)


@pytest.mark.parametrize("kind", KINDS)
async def test_the_fake_checks_the_key_in_each_wire_format_and_the_adapters_say_provider_auth(
    fake_server: FakeProviderServer, kind: str
) -> None:
    await set_faults(fake_server, "be", api_key="right")
    assert (await _adapter(fake_server, kind, "right").complete(_call())).content
    with pytest.raises(ProviderError) as info:
        await _adapter(fake_server, kind, "revoked").complete(_call())
    assert (info.value.status, info.value.code, info.value.retriable) == (401, "provider_auth", False)
    assert (await stats(fake_server, "be"))["auth_rejected"] == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_the_fake_answers_404_for_a_model_it_does_not_serve(fake_server: FakeProviderServer, kind: str) -> None:
    await set_faults(fake_server, "be", models=["m-2"])
    with pytest.raises(ProviderError) as info:
        await _adapter(fake_server, kind, "k").complete(_call())
    assert (info.value.status, info.value.code) == (404, "provider_model_not_found")
    assert "m-1" in info.value.message and (await stats(fake_server, "be"))["model_not_found"] == 1


async def test_gemini_says_a_bad_key_with_a_400_and_it_is_still_a_credential_error() -> None:
    body = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        }
    }
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(400, json=body)))
    backend = BackendConfig(name="g", provider="gemini", base_url="http://x/v1beta", models=["m-1"])
    with pytest.raises(ProviderError) as info:
        await default_registry().create(backend, client, "bad").complete(_call())
    assert (info.value.status, info.value.code) == (400, "provider_auth")
    fault = backend_fault(info.value, model_listed=True)
    assert fault is not None and fault.reason == "credentials rejected (400)" and fault.unhealthy

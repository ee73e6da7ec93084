"""The HTTP front door with the inline engine (``serve --engine inline``), the fake provider behind it and the
official ``openai`` client in front: completions, idempotency, and the status and body of each bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from infra.fake_provider.server import FakeProviderServer
from schemas.config import RouterConfig
from streams.frontdoor.door import FrontDoor
from tests.frontdoor_support import KEYS, door_config, running_door
from tests.functional.conftest import set_faults, stats


def _config(server: FakeProviderServer, **frontdoor: Any) -> RouterConfig:
    backend = {"name": "p", "base_url": server.backend_url("p"), "models": ["gpt-4o-mini", "gpt-4o"], "timeout_s": 5}
    return door_config([backend], **frontdoor)


@pytest.fixture
async def door(fake_server: FakeProviderServer) -> AsyncIterator[tuple[str, FrontDoor]]:
    async with running_door(_config(fake_server)) as running:
        yield running


def _client(base_url: str, key: str = "app") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url, api_key=KEYS.get(key, key), max_retries=0)


HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello door"}]


async def test_a_plain_completion_through_the_openai_client(door: tuple[str, FrontDoor]) -> None:
    url, _ = door
    raw = await _client(url).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
    completion = raw.parse()
    assert completion.choices[0].message.content == "[gpt-4o-mini] answer to: hello door"
    assert completion.choices[0].finish_reason == "stop" and completion.model == "gpt-4o-mini"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert completion.id == f"chatcmpl-{raw.headers['x-request-id']}"
    assert raw.headers["x-llm-router-backend"] == "p"


async def test_a_retry_with_the_same_idempotency_key_gets_the_same_answer(
    door: tuple[str, FrontDoor], fake_server: FakeProviderServer
) -> None:
    url, _ = door
    client = _client(url)
    headers = {"Idempotency-Key": "order-42"}
    first = await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, extra_headers=headers)
    again = await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, extra_headers=headers)
    other = await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert again.model_dump() == first.model_dump() and other.id != first.id
    assert (await stats(fake_server, "p"))["calls"] == 2  # the retry made no provider call


async def test_a_reused_idempotency_key_with_another_body_is_another_request(
    door: tuple[str, FrontDoor], fake_server: FakeProviderServer
) -> None:
    """Answering it with the first body's answer would hand the client an answer to a question it did not ask."""
    url, _ = door
    client = _client(url)
    headers = {"Idempotency-Key": "order-43"}
    first = await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, extra_headers=headers)
    other_question: list[ChatCompletionMessageParam] = [{"role": "user", "content": "another question"}]
    second = await client.chat.completions.create(model="gpt-4o-mini", messages=other_question, extra_headers=headers)
    assert second.choices[0].message.content == "[gpt-4o-mini] answer to: another question"
    assert second.id != first.id and (await stats(fake_server, "p"))["calls"] == 2


async def test_the_models_list_is_the_key_s(door: tuple[str, FrontDoor]) -> None:
    url, _ = door
    everything = [m.id async for m in _client(url).models.list()]
    narrow = [m.id async for m in _client(url, "narrow").models.list()]
    assert everything == ["gpt-4o", "gpt-4o-mini"] and narrow == ["gpt-4o"]


async def _error(
    url: str, key: str = "app", headers: dict[str, str] | None = None, **body: Any
) -> openai.APIStatusError:
    fields = {"model": "gpt-4o-mini", "messages": HELLO, **body}
    with pytest.raises(openai.APIStatusError) as caught:
        await _client(url, key).chat.completions.create(**fields, extra_headers=headers)
    return caught.value


@pytest.mark.parametrize(
    ("key", "headers", "body", "status", "code", "param"),
    [
        ("sk-nobody", None, {}, 401, "invalid_api_key", None),
        ("narrow", None, {}, 403, "model_not_allowed", "model"),
        ("app", {"X-Priority": "critical"}, {}, 403, "priority_not_allowed", None),
        ("app", {"X-Priority": "soon"}, {}, 400, "invalid_value", None),
        ("app", None, {"model": "llama-9"}, 404, "model_not_found", "model"),
        (
            "app",
            None,
            {"logit_bias": {"1": 5}},
            400,
            "unsupported_parameter",
            "logit_bias",
        ),
        ("app", None, {"temperature": 7}, 400, "invalid_value", "temperature"),
        ("app", None, {"messages": []}, 400, "invalid_value", "messages"),
        ("app", None, {"extra_body": {"route": "nowhere"}}, 404, "route_not_found", "route"),
    ],
)
async def test_each_bad_input_has_its_status_and_an_openai_error_body(
    door: tuple[str, FrontDoor],
    key: str,
    headers: dict[str, str] | None,
    body: dict[str, Any],
    status: int,
    code: str,
    param: str | None,
) -> None:
    error = await _error(door[0], key, headers, **body)
    assert error.status_code == status
    detail = error.response.json()["error"]
    assert (detail["code"], detail["param"]) == (code, param)
    assert detail["message"] and detail["type"].endswith("_error")


async def test_a_key_over_its_rate_is_a_429_with_retry_after(door: tuple[str, FrontDoor]) -> None:
    url, _ = door
    await _client(url, "limited").chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    error = await _error(url, "limited")
    assert error.status_code == 429 and error.response.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(error.response.headers["retry-after"]) <= 60


async def test_a_passed_deadline_is_a_504(fake_server: FakeProviderServer) -> None:
    await set_faults(fake_server, "p", latency_ms=3000, latency_dist="fixed")
    async with running_door(_config(fake_server, timeout_s=0.5)) as (url, _):
        error = await _error(url)
    assert error.status_code == 504 and error.response.json()["error"]["type"] == "timeout_error"


async def test_what_is_not_an_openai_call(door: tuple[str, FrontDoor]) -> None:
    url, _ = door
    root = url.removesuffix("/v1")
    auth = {"Authorization": f"Bearer {KEYS['app']}"}
    async with httpx.AsyncClient(base_url=root, headers=auth) as http:
        not_json = await http.post("/v1/chat/completions", content=b"{oops")
        too_big = await http.post("/v1/chat/completions", content=b"x" * 4_000_001)
        nowhere = await http.get("/v2/anything")
        wrong_method = await http.get("/v1/chat/completions")
    assert (not_json.status_code, not_json.json()["error"]["code"]) == (400, "invalid_json")
    assert set(not_json.json()["error"]) == {"message", "type", "param", "code"}
    assert (too_big.status_code, too_big.json()["error"]["code"]) == (413, "body_too_large")
    assert (nowhere.status_code, wrong_method.status_code) == (404, 405)


async def test_probes_and_metrics(door: tuple[str, FrontDoor]) -> None:
    url, _ = door
    await _client(url).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    await _error(url, "sk-nobody")
    async with httpx.AsyncClient(base_url=url.removesuffix("/v1")) as http:
        health, ready, metrics = await http.get("/healthz"), await http.get("/readyz"), await http.get("/metrics")
    assert health.status_code == 200 and ready.status_code == 200 and ready.json()["checks"] == {"engine": True}
    text = metrics.text
    assert 'llm_router_frontdoor_requests_total{endpoint="/v1/chat/completions",status="200"} 1.0' in text
    assert 'llm_router_frontdoor_requests_total{endpoint="/v1/chat/completions",status="401"} 1.0' in text
    assert "llm_router_frontdoor_request_seconds_bucket" in text
    assert "llm_router_requests_total" in text  # the inline engine's own series follow the door's

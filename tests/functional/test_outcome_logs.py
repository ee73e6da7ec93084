"""Logs an operator can use, over real HTTP (fake provider) with the process's JSON log setup: every request's
handling ends in exactly one outcome line at info carrying its ids; nested code logs with the ids of the
request it serves, never another's; prompts and answers stay out of the logs unless enabled, and then only as
the redaction hook left them."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.contextvars import clear_contextvars

from agents.hooks import HookChain
from agents.pipeline import Pipeline, RawMessage
from agents.processor import RequestProcessor
from agents.retry_agent import RetryForwarder
from agents.routing import ModelRouter
from agents.scheduler import FairScheduler
from agents.slot_gate import SlotGate
from infra.cache.semantic_cache import SemanticCache
from infra.cache.store import MemoryCacheStore
from infra.config_loader import parse_config
from infra.fake_provider.server import FakeProviderServer
from infra.idempotency import NullIdempotencyStore
from infra.log_context import OUTCOME_LOGGER
from infra.providers.pool import BackendPool
from schemas.config import CacheSettings, LoggingSettings, RouterConfig
from schemas.events import CachePolicy, ChatMessage, ChatRequest, ChatResponse
from schemas.wire import TopicNames, encode
from streams.logs import LIBRARY_LOGGERS, configure_logging
from streams.publishers import MemoryPublisher
from tests.functional.conftest import set_faults, trusted_ingress

TOPICS = TopicNames("t")
INGRESS = trusted_ingress(TOPICS)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SECRET = "sk-live-7f3a9c2e11d04b6f8a5e"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The root logger writes JSON lines here, everything at debug (so nothing hides below the level)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = [*LIBRARY_LOGGERS, OUTCOME_LOGGER]
    levels = {n: logging.getLogger(n).level for n in names}
    stream = io.StringIO()
    clear_contextvars()
    configure_logging(LoggingSettings(format="json", level="debug"), stream=stream, library_level="debug")
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)


def _parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]  # every line is one JSON object


def _outcomes(stream: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in _parsed(stream) if line.get("logger") == OUTCOME_LOGGER]


def _config(server: FakeProviderServer, *, max_attempts: int = 3) -> RouterConfig:
    retry = {"max_attempts": max_attempts, "base_delay_s": 0.01, "max_delay_s": 0.02, "max_total_s": 5}
    data = {
        "worker": {"retry": retry},
        "backends": [
            {"name": "b1", "base_url": server.backend_url("b1"), "models": ["gpt-4o-mini"], "timeout_s": 2},
        ],
        "routes": [{"name": "mini", "match": {"models": ["small"]}, "targets": [{"model": "gpt-4o-mini"}]}],
    }
    return parse_config(json.dumps(data), env={})


def _pipeline(cfg: RouterConfig, pub: MemoryPublisher, *, hooks: HookChain | None = None, **kw: Any) -> Pipeline:
    cache = SemanticCache(CacheSettings(semantic=False), MemoryCacheStore(), None)
    processor = RequestProcessor(
        BackendPool(cfg.backends), ModelRouter(cfg), cfg.worker.retry, worker_id="w1", cache=cache, hooks=hooks
    )
    return Pipeline(processor, pub, INGRESS, SlotGate(FairScheduler(), 4), NullIdempotencyStore(), **kw)


def _raw(req: ChatRequest | bytes, offset: int = 0) -> RawMessage:
    value = req if isinstance(req, bytes) else encode(req)
    headers = [("traceparent", f"00-{TRACE}-00f067aa0ba902b7-01".encode())]
    return RawMessage(TOPICS.requests("high"), 0, offset, b"acme", value, headers, None)


def _req(text: str = "hello", **kw: Any) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content=text)], tenant="acme", priority="high", **kw)


async def _drive(pipeline: Pipeline, pub: MemoryPublisher, raw: RawMessage) -> None:
    """Handle ``raw``, then every retry record through the forwarder and back, as the agents do."""
    forwarder = RetryForwarder(pub, pipeline)
    await pipeline.handle(raw)
    seen = 0
    for _ in range(10):
        retries = [r for r in pub.records if ".retry." in r.topic][seen:]
        if not retries:
            return
        seen += len(retries)
        for rec in retries:
            before = len(pub.records)
            await forwarder.handle(RawMessage(rec.topic, 0, 0, rec.key, rec.value, rec.headers, None))
            fwd = pub.records[before]
            await pipeline.handle(RawMessage(fwd.topic, 0, 1, fwd.key, fwd.value, fwd.headers, None))
    raise AssertionError("still retrying")


async def test_answered_then_cached_each_one_line_with_its_ids(
    fake_server: FakeProviderServer, log_lines: io.StringIO
) -> None:
    pipeline = _pipeline(_config(fake_server), MemoryPublisher())
    first, second = _req(model="small"), _req(model="small")
    await pipeline.handle(_raw(first))
    await pipeline.handle(_raw(second, offset=1))
    answered, cached = _outcomes(log_lines)
    for line, req, outcome in ((answered, first, "answered"), (cached, second, "cached")):
        assert line["outcome"] == outcome and line["level"] == "info" and line["event"] == "outcome"
        assert (line["request_id"], line["tenant"], line["priority"], line["trace_id"]) == (
            req.request_id,
            "acme",
            "high",
            TRACE,
        )
        assert (line["route"], line["model"]) == ("mini", "gpt-4o-mini")
        assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0
    assert answered["backend"] == "b1" and cached["cache_hit"] == "exact"


async def test_no_route_is_one_dead_lettered_line(fake_server: FakeProviderServer, log_lines: io.StringIO) -> None:
    req = _req(model="no-such-model")
    await _pipeline(_config(fake_server), MemoryPublisher()).handle(_raw(req))
    [line] = _outcomes(log_lines)
    assert (line["outcome"], line["reason"], line["request_id"], line["level"]) == (
        "dead_lettered",
        "no_route",
        req.request_id,
        "info",
    )
    assert line["code"] and "latency_ms" in line


async def test_exhausted_retries_log_each_round_once_and_the_end(
    fake_server: FakeProviderServer, log_lines: io.StringIO
) -> None:
    await set_faults(fake_server, "b1", error_rate=1.0, error_status=503)
    pub = MemoryPublisher()
    req = _req()
    await _drive(_pipeline(_config(fake_server, max_attempts=3), pub), pub, _raw(req))
    lines = _outcomes(log_lines)
    assert [x["outcome"] for x in lines] == ["retried", "retried", "dead_lettered"]
    assert {x["request_id"] for x in lines} == {req.request_id}
    assert all(x["trace_id"] == TRACE for x in lines)
    assert lines[0]["delay_s"] > 0 and lines[-1]["reason"] == "retries_exhausted"


async def test_cache_only_miss_fails_without_a_dead_letter(
    fake_server: FakeProviderServer, log_lines: io.StringIO
) -> None:
    req = _req(cache=CachePolicy.ONLY)
    await _pipeline(_config(fake_server), MemoryPublisher()).handle(_raw(req))
    [line] = _outcomes(log_lines)
    assert (line["outcome"], line["code"], line["request_id"]) == ("failed", "cache_miss", req.request_id)


async def test_an_undecodable_record_is_one_dead_lettered_line(
    fake_server: FakeProviderServer, log_lines: io.StringIO
) -> None:
    await _pipeline(_config(fake_server), MemoryPublisher()).handle(_raw(b"\xff not json"))
    [line] = _outcomes(log_lines)
    assert (line["outcome"], line["reason"], line["code"], line["trace_id"]) == (
        "dead_lettered",
        "invalid_message",
        "invalid_json",
        TRACE,
    )


class _SlowHook:
    """Logs from nested code (a hook) after both requests are in flight, without being given any id."""

    def __init__(self) -> None:
        self.both = asyncio.Barrier(2)

    async def pre_request(self, request: ChatRequest) -> ChatRequest:
        await self.both.wait()
        logging.getLogger("tests.hook").info("hook saw %s", request.request_id)
        return request


async def test_concurrent_requests_do_not_leak_each_others_ids(
    fake_server: FakeProviderServer, log_lines: io.StringIO
) -> None:
    pipeline = _pipeline(_config(fake_server), MemoryPublisher(), hooks=HookChain([("slow", _SlowHook())]))
    reqs = [_req(f"question {i}") for i in range(2)]
    await asyncio.gather(*(pipeline.handle(_raw(r, offset=i)) for i, r in enumerate(reqs)))
    hooked = [x for x in _parsed(log_lines) if x.get("logger") == "tests.hook"]
    assert len(hooked) == 2
    assert all(x["event"] == f"hook saw {x['request_id']}" for x in hooked)
    outcomes = _outcomes(log_lines)
    assert sorted(x["request_id"] for x in outcomes) == sorted(r.request_id for r in reqs)
    assert [x["outcome"] for x in outcomes] == ["answered", "answered"]


class _Redact:
    async def pre_request(self, request: ChatRequest) -> ChatRequest:
        messages = [
            m.model_copy(update={"content": re.sub(r"sk-[\w-]+", "[key]", m.content)}) for m in request.messages
        ]
        return request.model_copy(update={"messages": messages})

    async def post_response(self, request: ChatRequest, response: ChatResponse) -> ChatResponse:
        return response.model_copy(update={"content": "[answer redacted]"})


async def test_prompts_and_answers_are_never_logged_by_default(
    fake_server: FakeProviderServer, log_lines: io.StringIO
) -> None:
    req = _req(f"my api key is {SECRET}, please rotate it")
    pub = MemoryPublisher()
    await _pipeline(_config(fake_server), pub).handle(_raw(req))
    text = log_lines.getvalue()
    assert _outcomes(log_lines)[0]["outcome"] == "answered"
    assert SECRET not in text and "rotate it" not in text
    answer = next(r for r in pub.records if r.topic == TOPICS.responses)
    content = json.loads(answer.value)["content"]
    assert content and content not in text


async def test_enabled_prompts_are_logged_as_the_redaction_hook_left_them(
    fake_server: FakeProviderServer, log_lines: io.StringIO
) -> None:
    configure_logging(
        LoggingSettings(format="json", level="debug", log_prompts=True), stream=log_lines, library_level="debug"
    )
    req = _req(f"my api key is {SECRET}")
    hooks = HookChain([("redact", _Redact())])
    await _pipeline(_config(fake_server), MemoryPublisher(), hooks=hooks, log_prompts=True).handle(_raw(req))
    [line] = _outcomes(log_lines)
    assert line["prompt"] == [{"role": "user", "content": "my api key is [key]"}]
    assert line["answer"] == "[answer redacted]"
    assert SECRET not in log_lines.getvalue()

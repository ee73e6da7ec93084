"""Library mode logs like a worker: exactly one outcome line per request, carrying that request's ids, and the
caller's own log context is left as it was (no request ids bound after the call)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars

from infra.fake_provider.server import FakeProviderServer
from infra.log_context import OUTCOME_LOGGER
from schemas.config import RouterConfig
from schemas.events import ChatMessage, ChatRequest
from streams.library import Router


class _Records(logging.Handler):
    """The outcome records as the host application's handler receives them, with the ids bound at the time."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append({**get_contextvars(), **record.__dict__})


@pytest.fixture
def outcomes() -> Iterator[_Records]:
    logger = logging.getLogger(OUTCOME_LOGGER)
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    clear_contextvars()
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)
    clear_contextvars()


def _config(server: FakeProviderServer) -> RouterConfig:
    return RouterConfig.model_validate(
        {
            "redis": {"enabled": False},
            "cache": {"enabled": False},
            "worker": {"metrics_port": 0, "retry": {"max_attempts": 3, "base_delay_s": 0.01, "max_delay_s": 0.02}},
            "health": {"healthy_probe_interval_s": 0},
            "default_model": "gpt-4o-mini",
            "backends": [{"name": "p", "base_url": server.backend_url("p"), "models": ["gpt-4o-mini"], "timeout_s": 2}],
        }
    )


def _req(text: str, **kw: Any) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content=text)], tenant="acme", **kw)


async def test_each_request_is_one_outcome_line_with_its_ids(
    fake_server: FakeProviderServer, outcomes: _Records
) -> None:
    bind_contextvars(app="host")  # the caller's own context
    async with Router(_config(fake_server)) as router:
        first = await router.complete(_req("hello there"))
        second = await router.complete(_req("prove it", model="nope-not-a-model"))
    assert [line["request_id"] for line in outcomes.lines] == [first.request_id, second.request_id]
    ok, failed = outcomes.lines
    assert ok["outcome"] == "answered" and ok["tenant"] == "acme" and ok["backend"] == "p"
    assert ok["latency_ms"] > 0 and ok["app"] == "host"
    assert failed["outcome"] in {"failed", "dead_lettered"} and failed["code"] == second.error.code  # type: ignore[union-attr]
    assert "prompt" not in ok and "answer" not in ok  # log_prompts is off
    assert get_contextvars() == {"app": "host"}  # nothing of the requests is left bound in the caller

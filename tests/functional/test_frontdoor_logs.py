"""The front door writes one access line per HTTP request over real HTTP (inline engine, fake provider): method,
path, status, latency and, once known, the request id and tenant; never the API key nor the body. The ids bound
for one request are gone when it ends."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from structlog.contextvars import clear_contextvars

from infra.fake_provider.server import FakeProviderServer
from schemas.config import LoggingSettings, RouterConfig
from streams.logs import LIBRARY_LOGGERS, configure_logging
from tests.frontdoor_support import KEYS, api_keys, running_door

ACCESS_LOGGER = "llm_router.access"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {n: logging.getLogger(n).level for n in LIBRARY_LOGGERS}
    stream = io.StringIO()
    clear_contextvars()
    configure_logging(LoggingSettings(format="json", level="info"), stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)


def _config(server: FakeProviderServer) -> RouterConfig:
    return RouterConfig.model_validate(
        {
            "redis": {"enabled": False},
            "cache": {"enabled": False},
            "worker": {"metrics_port": 0},
            "health": {"healthy_probe_interval_s": 0},
            "default_model": "gpt-4o-mini",
            "backends": [{"name": "p", "base_url": server.backend_url("p"), "models": ["gpt-4o-mini"], "timeout_s": 5}],
            "frontdoor": {"api_keys": api_keys()},
        }
    )


def _access(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line.get("logger") == ACCESS_LOGGER]


async def test_one_access_line_per_http_request_without_secrets(
    fake_server: FakeProviderServer, log_lines: io.StringIO
) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "my secret prompt"}]}
    async with running_door(_config(fake_server)) as (url, door), httpx.AsyncClient(base_url=url) as http:
        ok = await http.post("/chat/completions", json=body, headers={"authorization": f"Bearer {KEYS['app']}"})
        denied = await http.post("/chat/completions", json=body, headers={"authorization": "Bearer sk-wrong-9"})
        health = await http.get(url.removesuffix("/v1") + "/healthz")
    assert (ok.status_code, denied.status_code, health.status_code) == (200, 401, 200)
    chat, refused, probe = _access(log_lines)
    tenant = door.keys.find(KEYS["app"]).tenant  # type: ignore[union-attr]
    assert chat["method"] == "POST" and chat["path"] == "/v1/chat/completions" and chat["status"] == 200
    assert chat["request_id"] == ok.headers["x-request-id"] and chat["tenant"] == tenant
    assert chat["latency_ms"] > 0 and chat["level"] == "info"
    assert refused["status"] == 401 and "request_id" not in refused and "tenant" not in refused
    assert probe["path"] == "/healthz" and "request_id" not in probe  # the chat's ids did not leak to later lines
    text = log_lines.getvalue()
    assert KEYS["app"] not in text and "sk-wrong-9" not in text and "my secret prompt" not in text

"""A real worker on real Kafka logs JSON lines only: one ``ready`` line with its assignment, and exactly one
outcome line per request, carrying its ids."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from infra.log_context import OUTCOME_LOGGER
from schemas.events import ChatMessage, ChatRequest, Priority
from tests.integration.conftest import RouterEnv
from tests.integration.helpers import gather_responses

pytestmark = pytest.mark.integration


def _lines(env: RouterEnv) -> list[dict[str, Any]]:
    text = env.workers[0].log_path.read_text(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.strip()]  # every line must parse


async def test_worker_logs_ready_and_one_outcome_line_per_request(router_env: RouterEnv) -> None:
    router_env.start_worker()
    ok = ChatRequest(tenant="acme", priority=Priority.HIGH, messages=[ChatMessage(role="user", content="hi there")])
    lost = ChatRequest(model="no-such-model", messages=[ChatMessage(role="user", content="hello")])
    async with router_env.client() as client:
        futures = [await client.submit(r) for r in (ok, lost)]
        answered, failed = await gather_responses(futures, 90, router_env.workers)
    assert (answered.status, failed.status) == ("ok", "error")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:  # the response is published before its outcome line is written
        outcomes = [x for x in _lines(router_env) if x.get("logger") == OUTCOME_LOGGER]
        if len(outcomes) >= 2 or loop.time() > deadline:
            break
        await asyncio.sleep(0.2)
    lines = _lines(router_env)
    [ready] = [x for x in lines if x.get("event") == "ready"]
    assert ready["logger"] == "streams.worker" and ready["partitions"] > 0
    assert set(ready["assignment"][router_env.topics.requests("high")]) == {0, 1}
    by_id = {x["request_id"]: x for x in outcomes}
    assert len(outcomes) == 2 and set(by_id) == {ok.request_id, lost.request_id}
    line = by_id[ok.request_id]
    assert (line["outcome"], line["tenant"], line["priority"], line["model"]) == (
        "answered",
        "acme",
        "high",
        "gpt-4o-mini",
    )
    assert line["latency_ms"] > 0 and line["worker"] and "hi there" not in json.dumps(lines)
    assert (by_id[lost.request_id]["outcome"], by_id[lost.request_id]["reason"]) == ("dead_lettered", "no_route")

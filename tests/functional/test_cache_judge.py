"""The cache's judge through the router itself (``cache.judge_model``): a verification whose two answers differ
as text is judged by a model on a real HTTP backend (the fake provider, told what to reply), in the background,
after the fresh answer was served; the verdict teaches the model, and the judge's call is a metered provider
call of the asker's tenant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.cache.decision import Prior
from infra.config_loader import parse_config
from infra.fake_provider.server import FakeProviderServer
from schemas.config import RouterConfig
from streams.library import Router
from tests.functional.conftest import set_faults, stats, until_stat

# the feature names of the shipped prior's first four columns; a flat prior over them explores every candidate
NAMES = ("bias", "cos_same", "cos_cross", "margin")


def _config(
    server: FakeProviderServer, prior: Path, tenants: dict[str, object] | None = None, **cache: object
) -> RouterConfig:
    body = {
        "tenants": tenants or {},
        "default_model": "gpt-4o-mini",
        "backends": [
            {"name": "b1", "base_url": server.backend_url("b1"), "models": ["gpt-4o-mini"]},
            {"name": "j", "base_url": server.backend_url("j"), "models": ["judge-mini"]},
        ],
        "redis": {"enabled": False},
        "pricing": {"judge-mini": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}},
        "cache": {
            "enabled": True,
            "prior_path": str(prior),
            "second_embedder": None,
            "audit_rate": 0.0,
            "translate_cross_lingual": "never",
            **cache,
        },
    }
    return parse_config(json.dumps(body), env={})


@pytest.fixture
def flat_prior(tmp_path: Path) -> Path:
    path = tmp_path / "flat.json"
    Prior.flat(NAMES).save(path)
    return path


async def _explore(router: Router) -> tuple[str | None, str | None]:
    """A question, then a paraphrase: the flat prior verifies the paraphrase (the fake's answers differ as
    text: each echoes its own prompt). Returns both responses' ``cache_hit``."""
    first = await router.ask("How do I learn Python?", tenant="acme")
    second = await router.ask("What is the best way to learn Python?", tenant="acme")
    cache = router.engine.cache
    assert cache is not None and cache.judging.judge is not None
    await cache.judging.settled()
    return first.cache_hit, second.cache_hit


@pytest.mark.parametrize(("reply", "correct", "wrong"), [("YES", 1, 0), ("no.", 0, 1)])
async def test_the_judge_model_decides_a_verification_whose_answers_differ(
    fake_server: FakeProviderServer, flat_prior: Path, reply: str, correct: int, wrong: int
) -> None:
    await set_faults(fake_server, "j", fixed_answer=reply)
    async with Router(_config(fake_server, flat_prior, judge_model="judge-mini"), background=False) as router:
        assert await _explore(router) == (None, None)  # the paraphrase was served the fresh answer
        cache = router.engine.cache
        assert cache is not None
        assert (cache.stats.verifications, cache.stats.judge_calls) == (1, 1)
        assert (cache.stats.verified_correct, cache.stats.verified_wrong) == (correct, wrong)
        assert cache.model("gpt-4o-mini").observed == 1
        assert cache.stats.extra["judge_agreed" if correct else "judge_disagreed"] == 1
        metrics = router.metrics_text()
    assert (await stats(fake_server, "j"))["calls"] == 1
    assert (await stats(fake_server, "b1"))["calls"] == 2
    # the judge's call is the tenant's cost and tokens (priced: 86 prompt tokens, 1 completion), not a request
    lines = [line for line in metrics.splitlines() if 'model="judge-mini"' in line]
    cost = next(line for line in lines if line.startswith("llm_router_cost_usd_total{"))
    assert float(cost.split()[-1]) > 0
    assert any(line.startswith('llm_router_tokens_total{kind="completion"') for line in lines)
    assert not [line for line in lines if line.startswith(("llm_router_responses_total", "llm_router_request_"))]


async def test_an_unclear_verdict_teaches_nothing(fake_server: FakeProviderServer, flat_prior: Path) -> None:
    await set_faults(fake_server, "j", fixed_answer="They are mostly the same")
    async with Router(_config(fake_server, flat_prior, judge_model="judge-mini"), background=False) as router:
        await _explore(router)
        cache = router.engine.cache
        assert cache is not None
        assert cache.stats.extra["judge_failed"] == 1
        assert (cache.stats.verified_correct, cache.stats.verified_wrong) == (0, 0)
        assert cache.model("gpt-4o-mini").observed == 0
        metrics = router.metrics_text()
    assert 'llm_router_degraded_total{component="cache_judge",reason="error"} 1.0' in metrics


async def test_without_a_judge_model_differing_answers_count_as_wrong(
    fake_server: FakeProviderServer, flat_prior: Path
) -> None:
    async with Router(_config(fake_server, flat_prior), background=False) as router:
        await router.ask("How do I learn Python?", tenant="acme")
        await router.ask("What is the best way to learn Python?", tenant="acme")
        cache = router.engine.cache
        assert cache is not None and cache.judging.judge is None
        assert (cache.stats.verifications, cache.stats.verified_wrong, cache.stats.judge_calls) == (1, 1, 0)
    assert (await stats(fake_server, "j"))["calls"] == 0


async def test_a_reload_sets_and_removes_the_judge(fake_server: FakeProviderServer, flat_prior: Path) -> None:
    async with Router(_config(fake_server, flat_prior), background=False) as router:
        await router.start()
        cache = router.engine.cache
        assert cache is not None and cache.judging.judge is None
        await router.reload(_config(fake_server, flat_prior, judge_model="judge-mini"))
        assert getattr(cache.judging.judge, "model", None) == "judge-mini"
        judge = cache.judging.judge
        await router.reload(_config(fake_server, flat_prior, judge_model="judge-mini", judge_max_pending=7))
        assert cache.judging.judge is judge and cache.judging.max_pending == 7  # same judge, new bound
        await router.reload(_config(fake_server, flat_prior))
        assert cache.judging.judge is None


async def test_a_judgement_running_across_a_reload_still_teaches(
    fake_server: FakeProviderServer, flat_prior: Path
) -> None:
    """The judge's round holds its processor like a request's round: the reload that retires the judge's backend
    (its URL changes) waits for it, and the cache still tracks the judgement after the judge was replaced."""
    await set_faults(fake_server, "j", fixed_answer="YES", latency_ms=600, latency_dist="fixed")
    await set_faults(fake_server, "j2", fixed_answer="NO")
    async with Router(_config(fake_server, flat_prior, judge_model="judge-mini"), background=False) as router:
        await router.ask("How do I learn Python?", tenant="acme")
        await router.ask("What is the best way to learn Python?", tenant="acme")
        cache = router.engine.cache
        assert cache is not None and cache.judging.pending == 1
        await until_stat(fake_server, "j", "calls", 1)  # the judge's call is at the provider (600 ms)
        moved = _config(fake_server, flat_prior, judge_model="judge-mini", judge_timeout_s=5)
        moved.backends[1] = moved.backends[1].model_copy(update={"base_url": fake_server.backend_url("j2")})
        await router.reload(moved)
        assert cache.judging.pending == 1  # the new judge did not orphan the running judgement
        await cache.judging.settled()
        assert (cache.stats.verified_correct, cache.stats.extra["judge_failed"]) == (1, 0)
    assert (await stats(fake_server, "j"))["calls"] == 1 and (await stats(fake_server, "j2"))["calls"] == 0


async def test_a_tenant_that_may_not_use_the_judge_model_is_not_judged(
    fake_server: FakeProviderServer, flat_prior: Path
) -> None:
    await set_faults(fake_server, "j", fixed_answer="YES")
    config = _config(fake_server, flat_prior, {"acme": {"models": ["gpt-4o-mini"]}}, judge_model="judge-mini")
    async with Router(config, background=False) as router:
        await _explore(router)
        cache = router.engine.cache
        assert cache is not None
        assert (cache.stats.extra["judge_skipped"], cache.stats.extra["judge_failed"]) == (1, 0)
        assert (cache.stats.verified_correct, cache.stats.verified_wrong) == (0, 0)
    assert (await stats(fake_server, "j"))["calls"] == 0

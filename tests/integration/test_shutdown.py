"""Shutdown is bounded with the real Redis: closing the cache store ends a blocked ``XREAD`` at once, and the
library-mode example exits every time after printing its answers (it used to hang in about half the runs)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml
from redis.exceptions import RedisError

from infra.cache.store import RedisCacheStore
from infra.config_loader import DEFAULT_CONFIG_PATH
from schemas.config import RedisSettings
from schemas.events import ChatMessage, ChatRequest
from streams.processes import start_worker
from tests.integration.conftest import FakeProvider, RouterEnv
from tests.integration.helpers import gather_responses

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "library_mode.py"
#: a hang is forever; a slow run on a busy machine takes under 10 s
EXAMPLE_TIMEOUT_S = 30
PROMPTS = ["What is the capital of France?", "Prove that 17 is prime, step by step", "Python入门方法"]


async def _clients_named(redis_url: str, name: str) -> list[dict[str, str]]:
    admin = aioredis.Redis.from_url(redis_url)
    try:
        return [c for c in await admin.client_list() if c.get("name") == name]
    finally:
        await admin.aclose()


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 10.0) -> None:
    """Poll ``check()`` (an async predicate) until true; a bound on waiting for a condition, not a pause."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.02)


async def test_closing_the_store_ends_a_blocked_read_and_its_connections(redis_url: str) -> None:
    prefix = f"it-{uuid.uuid4().hex[:10]}:"
    store = RedisCacheStore(RedisSettings(url=redis_url, key_prefix=prefix), dim=4)
    name = f"{prefix}cache:store"
    read = asyncio.create_task(store.events("$", 1000))

    async def blocked() -> bool:
        return any(c.get("cmd") == "xread" for c in await _clients_named(redis_url, name))

    await _until(blocked, "the store blocks in XREAD")
    await store.aclose()
    done, _ = await asyncio.wait([read], timeout=0.5)  # the read itself would block 1 s
    assert done, "closing the store left its XREAD blocked"
    assert isinstance(read.exception(), RedisError | OSError)  # what the follow loop handles

    async def gone() -> bool:
        return not await _clients_named(redis_url, name)

    await _until(gone, "the store's connections are closed")


def _example_config(tmp_path: Path, fake: FakeProvider, redis_url: str) -> Path:
    """The packaged default, pointed at this session's fake provider and test Redis database."""
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    for backend in data["backends"]:
        backend["base_url"] = backend["base_url"].replace("http://127.0.0.1:8900", fake.url)
    data["redis"] = {**data.get("redis", {}), "url": redis_url, "key_prefix": f"it-{uuid.uuid4().hex[:10]}:"}
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _run_example(env: dict[str, str], workdir: Path) -> str:
    """One run; returns what went wrong, or "" when it exited 0 after printing an answer to every prompt."""
    try:
        out = subprocess.run(
            [sys.executable, str(EXAMPLE)],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=EXAMPLE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        return f"did not exit within {EXAMPLE_TIMEOUT_S} s; stdout: {exc.stdout!r}"
    if out.returncode != 0:
        return f"exited {out.returncode}: {out.stderr[-2000:]}"
    answered = [line.rsplit("  ", 1)[-1] for line in out.stdout.splitlines() if line.startswith("ok ")]
    return "" if answered == PROMPTS else f"printed {out.stdout!r}"


def test_the_library_example_prints_its_answers_and_exits_every_time(
    tmp_path: Path, fake_provider: FakeProvider, redis_url: str
) -> None:
    env = {**os.environ, "LLM_ROUTER_CONFIG": str(_example_config(tmp_path, fake_provider, redis_url))}
    workdir = tmp_path / "elsewhere"  # not the repository: the example must not depend on the working directory
    workdir.mkdir()
    with ThreadPoolExecutor(max_workers=2) as pool:  # two at a time: most of a run is loading the embedder
        problems = list(pool.map(lambda _: _run_example(env, workdir), range(20)))
    assert not any(problems), {run: p for run, p in enumerate(problems) if p}


async def test_a_worker_keeps_faust_data_in_the_state_dir_and_stops_promptly(
    router_env: RouterEnv, state_dir: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    worker = start_worker(
        router_env.config_path, router_env.log_dir / "worker-elsewhere.log", cwd=workdir, env={"PYTHONPATH": str(REPO)}
    )
    router_env.workers.append(worker)  # stopped by the fixture if this test fails early
    async with router_env.client() as client:
        request = ChatRequest(messages=[ChatMessage(role="user", content="are you up?")])
        [response] = await gather_responses([await client.submit(request)], 60, [worker])
    assert response.status == "ok"
    data = state_dir / "faust" / f"{router_env.config.kafka.consumer_group}-data"
    assert data.is_dir()
    assert not list(workdir.iterdir()) and not list(REPO.glob(f"{router_env.config.kafka.consumer_group}-data"))
    t0 = time.monotonic()
    code = worker.stop(timeout_s=30)
    took = time.monotonic() - t0
    assert code == 0, worker.tail()
    assert took < 5, worker.tail()  # measured: about 1 s, Faust leaving the group included

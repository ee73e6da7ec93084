"""The HTTP front door on real Kafka with a real worker, driven by the official ``openai`` client: a plain
completion, a door restart that loses no accepted request (the client retries with its Idempotency-Key), and two
doors that each read only their own answers, signing as the key's tenant."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import openai
import pytest
import redis.asyncio as aioredis
from openai.types.chat import ChatCompletionMessageParam

from infra.api_keys import hash_key
from schemas.events import ChatResponse
from streams.frontdoor.server import EngineKind
from streams.processes import ManagedProcess
from streams.topics import delete_topics
from tests.frontdoor_support import running_door
from tests.integration.conftest import EnvFactory, RouterEnv, free_port
from tests.integration.helpers import read_topic

pytestmark = pytest.mark.integration

KEY = "sk-integration-door-0001"
LIMITED_KEY = "sk-integration-door-limited"
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello through kafka"}]


@dataclass
class Door:
    env: RouterEnv
    port: int
    door_id: str
    procs: list[ManagedProcess]

    @property
    def reply_topic(self) -> str:
        return f"{self.env.config.frontdoor.reply_topic_prefix}{self.door_id}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ManagedProcess:
        args = [sys.executable, "-m", "streams.cli", "serve", "--config", str(self.env.config_path)]
        args += ["--port", str(self.port), "--door-id", self.door_id]
        proc = ManagedProcess(f"door-{len(self.procs)}", args, self.env.log_dir / f"door-{len(self.procs)}.log")
        self.procs.append(proc)
        return proc

    async def ready(self, timeout_s: float = 60) -> None:
        proc = self.procs[-1]
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient() as http:
            while True:
                assert proc.alive(), f"the door exited:\n{proc.tail()}"
                assert time.monotonic() < deadline, f"the door was not ready within {timeout_s}s:\n{proc.tail()}"
                try:
                    if (await http.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)

    def client(self, timeout_s: float = 60, key: str = KEY) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=key, max_retries=0, timeout=timeout_s)


@pytest.fixture
async def door(make_env: EnvFactory) -> AsyncIterator[Door]:
    reply_prefix = f"itfd-{uuid.uuid4().hex[:10]}."
    env = await make_env(
        frontdoor={
            "api_keys": [
                {"name": "it", "sha256": hash_key(KEY)},
                {"name": "limited", "sha256": hash_key(LIMITED_KEY), "rpm": 1},
            ],
            "reply_topic_prefix": reply_prefix,
        },
        tenants={"default": {"reply_to_prefixes": [reply_prefix]}},
    )
    running = Door(env, free_port(), "door-a", [])
    yield running
    for proc in running.procs:
        proc.stop()
    await delete_topics(env.config.kafka, prefix=reply_prefix)


async def _until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what} not within {timeout_s}s"
        await asyncio.sleep(0.05)


async def test_a_completion_through_kafka_and_a_worker(door: Door) -> None:
    door.env.start_worker()
    door.start()
    await door.ready()
    completion = await door.client(timeout_s=120).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert completion.choices[0].message.content == "[gpt-4o-mini] answer to: hello through kafka"
    assert completion.object == "chat.completion" and completion.usage is not None
    assert completion.usage.total_tokens > 0
    limited = door.client(key=LIMITED_KEY)
    await limited.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    with pytest.raises(openai.RateLimitError) as caught:  # the key's rpm, counted in Redis
        await limited.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert int(caught.value.response.headers["retry-after"]) >= 1
    redis = aioredis.from_url(door.env.config.redis.url)
    try:
        assert await redis.exists(f"{door.env.config.redis.key_prefix}{{limits}}:frontdoor:limited:rpm")
    finally:
        await redis.aclose()


async def test_a_door_restart_loses_no_accepted_request(door: Door) -> None:
    fake, backend = door.env.fake, door.env.backend
    door.env.start_worker()
    door.start()
    await door.ready()
    await door.client(timeout_s=120).chat.completions.create(model="gpt-4o-mini", messages=HELLO)  # warm
    fake.set_faults(backend, latency_ms=3000, latency_dist="fixed")
    calls = fake.stats(backend)["calls"]
    key = {"Idempotency-Key": f"order-{uuid.uuid4().hex}"}
    ask: list[ChatCompletionMessageParam] = [{"role": "user", "content": "accepted, then the door crashed"}]
    first = asyncio.create_task(
        door.client().chat.completions.create(model="gpt-4o-mini", messages=ask, extra_headers=key)
    )
    await _until(lambda: fake.stats(backend)["calls"] > calls, 60, "the provider call")  # accepted and in flight
    door.procs[-1].kill()  # the door crashes while the worker calls the provider
    with pytest.raises(openai.APIConnectionError):
        await first
    door.start()
    await door.ready()
    again = await door.client().chat.completions.create(model="gpt-4o-mini", messages=ask, extra_headers=key)
    assert again.choices[0].message.content == "[gpt-4o-mini] answer to: accepted, then the door crashed"
    assert fake.stats(backend)["calls"] == calls + 1  # the retry was answered by the one accepted call


ACME_SIGNING = "acme-frontdoor-signing-key-0123456789ab"
GLOBEX_SIGNING = "globex-frontdoor-signing-key-0123456789"


async def test_two_doors_each_read_only_their_own_answers_signed_as_the_tenant(make_env: EnvFactory) -> None:
    prefix = f"itfd-{uuid.uuid4().hex[:10]}."
    keys = {"acme": "sk-acme-door-key", "globex": "sk-globex-door-key"}
    env = await make_env(
        security={"tenancy": "signed"},
        tenants={
            "acme": {"keys": [{"key": ACME_SIGNING}], "reply_to_prefixes": [prefix]},
            "globex": {"keys": [{"key": GLOBEX_SIGNING}], "reply_to_prefixes": [prefix]},
        },
        frontdoor={
            "reply_topic_prefix": prefix,
            "api_keys": [{"name": t, "sha256": hash_key(k), "tenant": t} for t, k in keys.items()],
        },
    )
    env.start_worker()
    try:
        async with (
            running_door(env.config, EngineKind.KAFKA, door_id="one") as (url_one, _),
            running_door(env.config, EngineKind.KAFKA, door_id="two") as (url_two, _),
        ):
            one = openai.AsyncOpenAI(base_url=url_one, api_key=keys["acme"], max_retries=0, timeout=120)
            two = openai.AsyncOpenAI(base_url=url_two, api_key=keys["globex"], max_retries=0, timeout=120)
            asks = [(one, "acme", i) for i in range(3)] + [(two, "globex", i) for i in range(3)]
            answers = await asyncio.gather(
                *(
                    c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": f"{t} {i}"}])
                    for c, t, i in asks
                )
            )
        bootstrap = env.config.kafka.bootstrap_servers
        on_one = await read_topic(bootstrap, f"{prefix}one", ChatResponse, min_count=3)
        on_two = await read_topic(bootstrap, f"{prefix}two", ChatResponse, min_count=3)
    finally:
        await delete_topics(env.config.kafka, prefix=prefix)
    assert [a.choices[0].message.content for a in answers] == [f"[gpt-4o-mini] answer to: {t} {i}" for _, t, i in asks]
    assert {r.tenant for r in on_one} == {"acme"} and {r.tenant for r in on_two} == {"globex"}
    assert {f"chatcmpl-{r.request_id}" for r in on_one} == {a.id for a in answers[:3]}
    assert {f"chatcmpl-{r.request_id}" for r in on_two} == {a.id for a in answers[3:]}

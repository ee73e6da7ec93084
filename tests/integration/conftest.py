"""Fixtures for tests against the real Kafka and Redis (started by infra/bin/kafka-start.sh, redis-start.sh).

Each test gets its own topic prefix, consumer group and fake-provider backend, so tests never see each
other's records. The broker and Redis addresses come from LLM_ROUTER_TEST_KAFKA / LLM_ROUTER_TEST_REDIS.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from infra.config_loader import load_config
from schemas.config import RouterConfig
from schemas.wire import TopicNames
from streams.client import RouterClient
from streams.processes import ManagedProcess, start_worker
from streams.topics import delete_topics, ensure_topics, tenant_topic_ids

KAFKA = os.environ.get("LLM_ROUTER_TEST_KAFKA", "127.0.0.1:9092")
REDIS = os.environ.get("LLM_ROUTER_TEST_REDIS", "redis://127.0.0.1:6379/15")
#: the router's retry-state key of every test deployment (security.router_keys); literal: tests only
ROUTER_KEY = "integration-tests-router-key-" + "0" * 32


def _reachable(hostport: str) -> bool:
    host, port = hostport.rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session", autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Workers started here keep their files (Faust's data directory) in a temporary state directory: never in
    the repository (where ``it-*-data/`` folders used to pile up), never in the user's own state directory."""
    path = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LLM_ROUTER_STATE_DIR", str(path))
        yield path


@pytest.fixture(scope="session", autouse=True)
def router_key_env() -> Iterator[str]:
    """Workers run from the packaged default config read their router key from ``LLM_ROUTER_KEY``."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LLM_ROUTER_KEY", ROUTER_KEY)
        yield ROUTER_KEY


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    if not _reachable(KAFKA):
        pytest.fail(f"Kafka is not reachable at {KAFKA}: start it with `bash infra/bin/kafka-start.sh`")
    return KAFKA


@pytest.fixture(scope="session")
def redis_url() -> str:
    hostport = REDIS.split("//", 1)[1].split("/", 1)[0]
    if not _reachable(hostport):
        pytest.fail(f"Redis is not reachable at {REDIS}: start it with `bash infra/bin/redis-start.sh`")
    return REDIS


@dataclass
class FakeProvider:
    url: str
    proc: ManagedProcess

    def backend_url(self, backend: str) -> str:
        return f"{self.url}/b/{backend}/v1"

    def set_faults(self, backend: str, **plan: Any) -> None:
        httpx.put(f"{self.url}/admin/backends/{backend}/faults", json=plan, timeout=5).raise_for_status()

    def stats(self, backend: str) -> dict[str, int]:
        return dict(httpx.get(f"{self.url}/admin/backends/{backend}", timeout=5).json()["stats"])


@pytest.fixture(scope="session")
def fake_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeProvider]:
    port = free_port()
    log = tmp_path_factory.mktemp("fake") / "fake-provider.log"
    proc = ManagedProcess(
        "fake-provider", [sys.executable, "-m", "streams.cli", "fake-provider", "--port", str(port), "--seed", "3"], log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not proc.alive():
            proc.stop()
            pytest.fail(f"fake provider did not start:\n{proc.tail()}")
        time.sleep(0.1)
    yield FakeProvider(url, proc)
    proc.stop()


@dataclass
class RouterEnv:
    """One isolated deployment: config file, topics, backend name, and the workers started for it."""

    config: RouterConfig
    config_path: Path
    backend: str
    log_dir: Path
    fake: FakeProvider
    backends: list[str] = field(default_factory=list)
    workers: list[ManagedProcess] = field(default_factory=list)

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.config.kafka.topic_prefix)

    def start_worker(self) -> ManagedProcess:
        n = len(self.workers)
        worker = start_worker(self.config_path, self.log_dir / f"worker-{n}.log", name=f"worker-{n}")
        self.workers.append(worker)
        return worker

    def client(self, **kw: Any) -> RouterClient:
        return RouterClient(self.config.kafka.bootstrap_servers, topics=self.topics, **kw)


EnvFactory = Callable[..., Awaitable[RouterEnv]]


@pytest.fixture
async def make_env(
    kafka_bootstrap: str, redis_url: str, fake_provider: FakeProvider, tmp_path: Path
) -> AsyncIterator[EnvFactory]:
    """Factory of isolated deployments. ``backends``: list of (name suffix, models); extra sections merge in."""
    envs: list[RouterEnv] = []

    async def make(backends: list[tuple[str, list[str]]] | None = None, **sections: dict[str, Any]) -> RouterEnv:
        tag = uuid.uuid4().hex[:10]
        specs = backends or [("main", ["gpt-4o-mini", "gpt-4o"])]
        names = [f"{suffix}-{tag}" for suffix, _ in specs]
        data: dict[str, Any] = {
            "kafka": {
                "bootstrap_servers": kafka_bootstrap,
                "topic_prefix": f"it-{tag}",
                "consumer_group": f"it-{tag}",
                "request_partitions": {"critical": 2, "high": 2, "normal": 4, "batch": 4},
                "responses_partitions": 4,
                "retry_partitions": 2,
                "session_timeout_s": 6,
                "heartbeat_interval_s": 1,
                "commit_interval_s": 0.2,
            },
            "redis": {"url": redis_url, "key_prefix": f"it-{tag}:"},
            "worker": {
                "max_in_flight": 32,
                "concurrency_per_class": 8,
                "loglevel": "info",
                "retry": {"max_attempts": 6, "base_delay_s": 0.05, "max_delay_s": 0.5},
            },
            "health": {"healthy_probe_interval_s": 0, "probe_interval_s": 1},
            # single-tenant deployments, as before issue 12; tests of tenancy override this section
            "security": {"tenancy": "trusted-producers", "router_keys": [{"key": ROUTER_KEY}]},
            "default_model": specs[0][1][0],
            "backends": [
                {"name": n, "base_url": fake_provider.backend_url(n), "timeout_s": 5, "models": models}
                for n, (_, models) in zip(names, specs, strict=True)
            ],
        }
        for section, values in sections.items():
            if isinstance(data.get(section), dict):
                _merge(data[section], values)
            else:
                data[section] = values
        path = tmp_path / f"router-{tag}.yaml"
        path.write_text(yaml.safe_dump(data))
        env = RouterEnv(load_config(path, env={}), path, names[0], tmp_path, fake_provider, backends=names)
        tenants = tenant_topic_ids(env.config)
        await ensure_topics(env.config.kafka, retry_tiers_s=env.config.worker.retry.tiers_s, tenants=tenants)
        envs.append(env)
        return env

    yield make
    for env in envs:
        for worker in env.workers:
            worker.stop()
            if worker.proc.returncode not in (0, None, -15):
                print(f"--- {worker.name} exited {worker.proc.returncode}:\n{worker.tail(60)}")
        await delete_topics(env.config.kafka)  # keep the shared broker small across hundreds of test envs


def _merge(into: dict[str, Any], values: dict[str, Any]) -> None:
    for k, v in values.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


@pytest.fixture
async def router_env(make_env: EnvFactory) -> RouterEnv:
    return await make_env()

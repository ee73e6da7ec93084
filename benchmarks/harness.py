"""Shared harness: an isolated deployment (own topics, group, fake backends) with its own processes."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from infra.config_loader import load_config
from schemas.config import RouterConfig
from schemas.wire import TopicNames
from streams.client import RouterClient
from streams.processes import ManagedProcess, start_fake_provider, start_worker
from streams.topics import delete_topics, ensure_topics

__all__ = ["RESULTS_DIR", "Deployment", "deployment", "free_port", "write_results"]

RESULTS_DIR = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    return path


@dataclass
class Deployment:
    config: RouterConfig
    config_path: Path
    fake_url: str
    backends: list[str]
    log_dir: Path
    workers: list[ManagedProcess] = field(default_factory=list)

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.config.kafka.topic_prefix)

    def client(self) -> RouterClient:
        return RouterClient(self.config.kafka.bootstrap_servers, topics=self.topics)

    async def set_faults(self, backend: str, **plan: Any) -> None:
        async with httpx.AsyncClient() as http:
            r = await http.put(f"{self.fake_url}/admin/backends/{backend}/faults", json=plan)
            r.raise_for_status()

    def start_worker(self) -> ManagedProcess:
        w = start_worker(self.config_path, self.log_dir / f"worker-{len(self.workers)}.log")
        self.workers.append(w)
        return w


#: where benchmarks run their deployments: the dev services by default; a long measurement can get a broker and a
#: Redis of its own (``KAFKA_PORT=19092 LLM_ROUTER_STATE_DIR=... infra/bin/kafka-start.sh``) so other work on the
#: shared ones does not disturb it
BENCH_KAFKA = os.environ.get("LLM_ROUTER_BENCH_KAFKA", "127.0.0.1:9092")
BENCH_REDIS = os.environ.get("LLM_ROUTER_BENCH_REDIS", "redis://127.0.0.1:6379/0")


@asynccontextmanager
async def deployment(
    name: str, backends: list[tuple[str, list[str]]], *, base_config: str | None = None, **sections: Any
) -> AsyncIterator[Deployment]:
    """Fake provider on a free port + config with a fresh topic prefix; workers are started by the caller."""
    base = load_config(base_config) if base_config else None
    tag = f"{name}-{uuid.uuid4().hex[:8]}"
    log_dir = RESULTS_DIR / "logs" / tag
    port = free_port()
    fake = await start_fake_provider(port, log_dir / "fake-provider.log")
    url = f"http://127.0.0.1:{port}"
    data: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": base.kafka.bootstrap_servers if base else BENCH_KAFKA,
            "topic_prefix": f"bench-{tag}",
            "consumer_group": f"bench-{tag}",
        },
        "redis": {"url": base.redis.url if base else BENCH_REDIS, "key_prefix": f"bench-{tag}:"},
        "default_model": backends[0][1][0],
        # a single-tenant deployment; its retry-state key lives as long as this throwaway config
        "security": {"tenancy": "trusted-producers", "router_keys": [{"key": secrets.token_hex(32)}]},
        "backends": [
            {"name": b, "base_url": f"{url}/b/{b}/v1", "models": models, "timeout_s": 10, "max_concurrency": 256}
            for b, models in backends
        ],
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "router.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path, env={})
    await ensure_topics(config.kafka, retry_tiers_s=config.worker.retry.tiers_s)
    dep = Deployment(config, path, url, [b for b, _ in backends], log_dir)
    try:
        yield dep
    finally:
        for w in dep.workers:
            w.stop()
        fake.stop()
        await delete_topics(config.kafka)


async def wait_ready(dep: Deployment, client: RouterClient, timeout_s: float = 120) -> float:
    """Seconds until the deployment answers a probe request."""
    from schemas.events import ChatMessage, ChatRequest, Priority

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    req = ChatRequest(messages=[ChatMessage(role="user", content="warm-up")], priority=Priority.CRITICAL)
    await client.complete(req, timeout_s=timeout_s)
    return loop.time() - t0

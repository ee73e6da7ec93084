"""The Faust application of the router service."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from agents.router_agent import register_retry_agents, register_router_agents
from schemas.config import RouterConfig
from streams.publishers import FaustPublisher
from streams.runtime import RouterRuntime
from streams.topics import TopicNames

__all__ = ["RouterApp", "broker_urls", "create_app", "paused_partitions", "watch_backpressure"]

log = logging.getLogger(__name__)


def broker_urls(bootstrap_servers: str) -> list[str]:
    return [f"kafka://{h.strip()}" for h in bootstrap_servers.split(",") if h.strip()]


class RouterApp(faust.App):
    """A Faust app that owns the router runtime and closes it on shutdown."""

    runtime: RouterRuntime

    async def on_stop(self) -> None:
        await super().on_stop()
        runtime = getattr(self, "runtime", None)
        if runtime is not None:
            await runtime.aclose()


def create_app(config: RouterConfig, **overrides: Any) -> RouterApp:
    """Build the app with its agents. Nothing connects until a worker starts it."""
    k = config.kafka
    settings: dict[str, Any] = {
        "broker": broker_urls(k.bootstrap_servers),
        "store": "memory://",
        "autodiscover": False,
        "web_enabled": False,
        "topic_disable_leader": True,
        "topic_replication_factor": k.replication_factor,
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_interval": k.commit_interval_s,
        "broker_commit_every": 500,
        "broker_session_timeout": k.session_timeout_s,
        "broker_heartbeat_interval": k.heartbeat_interval_s,
        "stream_buffer_maxsize": config.worker.stream_buffer_maxsize,
        "broker_max_poll_records": k.max_poll_records,
        "producer_acks": -1,
        "producer_linger": 0.002,
        "stream_wait_empty": False,
    }
    loop = overrides.pop("loop", None)
    settings.update(overrides)
    app = RouterApp(k.consumer_group, loop=loop, **settings)
    app.runtime = RouterRuntime(config, FaustPublisher(app))
    topics = TopicNames(k.topic_prefix)
    register_router_agents(app, topics, app.runtime.pipeline, concurrency=config.worker.concurrency_per_class)
    register_retry_agents(app, topics, config.worker.retry.tiers_s, app.runtime.forwarder)
    runtime = app.runtime
    runtime.metrics.sources.paused = lambda: paused_partitions(app)

    async def background() -> None:
        await runtime.run_background()

    async def report_backpressure() -> None:
        await watch_backpressure(app)

    async def tune_fetcher() -> None:
        await tune_fetch_wait(app, k.fetch_max_wait_ms)

    app.task(background)
    app.task(report_backpressure)
    app.task(tune_fetcher)
    return app


async def tune_fetch_wait(app: faust.App, wait_ms: int, timeout_s: float = 120.0) -> bool:
    """Set the broker-side fetch wait of Faust's aiokafka consumer (Faust hard-codes 1500 ms).

    A fetch request in flight does not include a partition whose records are still buffered client-side; a
    record arriving there waits until that request returns, i.e. up to this long. Faust offers no setting, so
    the value is set on aiokafka's fetcher once the consumer exists."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        thread = getattr(getattr(app, "_consumer", None), "_thread", None)
        fetcher = getattr(getattr(thread, "_consumer", None), "_fetcher", None)
        if fetcher is not None and hasattr(fetcher, "_fetch_max_wait_ms"):
            fetcher._fetch_max_wait_ms = wait_ms
            log.info("kafka fetch wait set to %d ms", wait_ms)
            return True
        await asyncio.sleep(0.2)
    log.warning("could not tune the kafka fetch wait (faust/aiokafka internals changed?)")
    return False


def paused_partitions(app: faust.App) -> list[tuple[str, int]]:
    """Partitions Faust stopped fetching because their stream buffer is full (our backpressure)."""
    consumer = getattr(app, "_consumer", None)
    buffered = getattr(consumer, "_buffered_partitions", None) or set()
    return sorted((tp.topic, tp.partition) for tp in buffered)


async def watch_backpressure(app: faust.App, interval_s: float = 0.5) -> None:
    """Log when fetching of a topic pauses because the scheduler's buffer is full, and when it resumes."""
    before: set[str] = set()
    while True:
        await asyncio.sleep(interval_s)
        now = {topic for topic, _ in paused_partitions(app)}
        for topic in sorted(now - before):
            log.info("backpressure: fetching of %s paused (buffer full, slots busy)", topic)
        for topic in sorted(before - now):
            log.info("backpressure: fetching of %s resumed", topic)
        before = now

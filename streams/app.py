"""The Faust application of the router service: agents feeding the service built by ``streams.runtime``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import faust
from faust.types import TransportT

from agents.router_agent import register_retry_agents, register_router_agents
from schemas.config import RouterConfig
from streams.kafka_security import faust_credentials
from streams.kafka_transport import DEFAULT_FETCH_MAX_WAIT_MS, RouterTransport
from streams.paths import state_dir
from streams.publishers import FaustPublisher
from streams.runtime import Service, build_engine, build_service

__all__ = [
    "RouterApp",
    "broker_urls",
    "create_app",
    "faust_datadir",
    "faust_settings",
    "paused_partitions",
    "watch_backpressure",
]

log = logging.getLogger(__name__)


def broker_urls(bootstrap_servers: str) -> list[str]:
    return [f"kafka://{h.strip()}" for h in bootstrap_servers.split(",") if h.strip()]


class RouterApp(faust.App):
    """A Faust app that owns the router service and closes it on shutdown (within about a second)."""

    #: set by :func:`create_app` before it returns the app
    router_service: Service
    #: broker-side fetch wait for the consumer (Faust alone hard-codes 1500 ms); see ``kafka_transport``
    fetch_max_wait_ms: int = DEFAULT_FETCH_MAX_WAIT_MS

    def _new_transport(self) -> TransportT:
        return RouterTransport(self.conf.broker_consumer, self)

    async def on_stop(self) -> None:
        await super().on_stop()
        await self.router_service.aclose()


def faust_datadir(environ: dict[str, str] | None = None) -> Path:
    """Faust's data directory (one per app name, Faust fills in ``{conf.name}``) under the state directory,
    never the working directory."""
    return state_dir(environ) / "faust" / "{conf.name}-data"


def faust_settings(config: RouterConfig) -> dict[str, Any]:
    k = config.kafka
    return {
        "broker": broker_urls(k.bootstrap_servers),
        "broker_credentials": faust_credentials(k),  # TLS / SASL, or None for PLAINTEXT
        "datadir": str(faust_datadir()),
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


async def create_app(config: RouterConfig, *, config_path: str | None = None, **overrides: Any) -> RouterApp:
    """Build the engine, the service and the app whose agents feed it (``overrides``: Faust settings). Nothing
    connects until a worker starts the app; a missing embedding model fails here, before Kafka is touched.
    ``config_path``: the file the worker watches and reloads live."""
    k = config.kafka
    loop = overrides.pop("loop", None) or asyncio.get_running_loop()
    app = RouterApp(k.consumer_group, loop=loop, **{**faust_settings(config), **overrides})
    app.fetch_max_wait_ms = k.fetch_max_wait_ms
    Path(app.conf.datadir).parent.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    engine = await build_engine(config, FaustPublisher(app))
    app.router_service = service = build_service(engine, config_path=config_path)
    await service.start_watch()  # before Faust consumes: the first requests run what is on disk now
    register_router_agents(app, service.topics, service.pipeline, concurrency=config.worker.concurrency_per_class)
    register_retry_agents(app, service.topics, config.worker.retry.tiers_s, service.forwarder)
    service.engine.metrics.sources.paused = lambda: paused_partitions(app)

    async def background() -> None:
        service.start_background()

    async def report_backpressure() -> None:
        await watch_backpressure(app)

    app.task(background)
    app.task(report_backpressure)
    return app


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

"""Composition of a front door (keys, engine, metrics) and running it under uvicorn.

uvicorn, with uvloop and httptools: the most used ASGI server, a C HTTP parser and event loop, graceful shutdown on
SIGTERM; the door is started before uvicorn listens (so Kafka being out of reach is one clear error at start, not
a process that answers 503 forever) and closed after uvicorn drained its connections."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum

from infra.api_keys import KeyBook
from infra.rate_limits import LocalRateLimiter, RateLimiter, RedisRateLimiter
from schemas.config import RouterConfig
from schemas.errors import ConfigError
from streams.frontdoor.asgi import DoorApp
from streams.frontdoor.door import FrontDoor, RedisProbe
from streams.frontdoor.engines import Engine, InlineEngine

__all__ = ["EngineKind", "ServeOptions", "build_door", "run", "serve"]

log = logging.getLogger(__name__)


class EngineKind(StrEnum):
    KAFKA = "kafka"
    INLINE = "inline"


@dataclass(frozen=True)
class ServeOptions:
    engine: EngineKind = EngineKind.KAFKA
    host: str | None = None  # None: frontdoor.host
    port: int | None = None  # None: frontdoor.port
    door_id: str | None = None  # None: frontdoor.door_id, else <host name>-<port>


def _engine(config: RouterConfig, kind: EngineKind, keys: KeyBook, door_id: str) -> Engine:
    if kind is EngineKind.INLINE:
        return InlineEngine(config)
    from streams.frontdoor.kafka_engine import KafkaEngine

    return KafkaEngine(config, door_id=door_id, tenants={k.tenant for k in keys.keys()})


def build_door(config: RouterConfig, options: ServeOptions = ServeOptions()) -> FrontDoor:
    """The door for ``config`` (not started); ConfigError when it could not serve anyone."""
    from streams.frontdoor.kafka_engine import default_door_id

    keys = KeyBook.from_settings(config.frontdoor)
    if not len(keys):
        raise ConfigError(
            "the front door has no API keys: add frontdoor.api_keys (name, sha256 of the key, tenant) or "
            'frontdoor.api_keys_file; hash a key with: printf %s "$KEY" | sha256sum'
        )
    port = options.port if options.port is not None else config.frontdoor.port
    door_id = options.door_id or config.frontdoor.door_id or default_door_id(port)
    probe = RedisProbe(config.redis.url) if config.redis.enabled else None
    engine = _engine(config, options.engine, keys, door_id)
    return FrontDoor(config, engine, keys=keys, limiter=_limiter(config, keys), redis_probe=probe)


def _limiter(config: RouterConfig, keys: KeyBook) -> RateLimiter:
    """Keys' ``rpm`` held across every door on the same Redis (per door when Redis is off or down)."""
    if config.redis.enabled and any(k.rpm is not None for k in keys.keys()):
        return RedisRateLimiter(config.redis)
    return LocalRateLimiter()


async def serve(config: RouterConfig, options: ServeOptions = ServeOptions()) -> None:
    """Start the door, serve HTTP until SIGINT/SIGTERM, then drain and close."""
    import uvicorn

    door = build_door(config, options)
    await door.start()
    host = options.host or config.frontdoor.host
    port = options.port if options.port is not None else config.frontdoor.port
    log.info("front door (%s engine, %d API keys) on http://%s:%d/v1", options.engine, len(door.keys), host, port)
    try:
        server = uvicorn.Server(
            uvicorn.Config(
                DoorApp(door),
                host=host,
                port=port,
                http="httptools",
                lifespan="off",
                access_log=False,
                log_config=None,
                timeout_graceful_shutdown=int(config.frontdoor.timeout_s) + 5,
                timeout_keep_alive=config.frontdoor.keepalive_s,
            )
        )
        await server.serve()
    finally:
        await door.aclose()


def run(config: RouterConfig, options: ServeOptions = ServeOptions()) -> None:
    """:func:`serve` on a uvloop event loop."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(config, options))

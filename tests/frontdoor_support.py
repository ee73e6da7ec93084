"""A front door served in the test's own event loop (uvicorn on an ephemeral port), for functional and integration
tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn

from infra.api_keys import hash_key
from schemas.config import RouterConfig
from streams.frontdoor.asgi import DoorApp
from streams.frontdoor.door import FrontDoor
from streams.frontdoor.server import EngineKind, ServeOptions, build_door


def door_config(backends: list[dict[str, object]], *, max_attempts: int = 2, **frontdoor: object) -> RouterConfig:
    """An inline door's config for functional tests: no Redis, no cache, quick retries, the test keys."""
    return RouterConfig.model_validate(
        {
            "redis": {"enabled": False},
            "cache": {"enabled": False},
            "worker": {
                "metrics_port": 0,
                "retry": {"max_attempts": max_attempts, "base_delay_s": 0.01, "max_delay_s": 0.05},
            },
            "health": {"healthy_probe_interval_s": 0},
            "default_model": "gpt-4o-mini",
            "backends": backends,
            "frontdoor": {"api_keys": api_keys(), **frontdoor},
        }
    )


#: the raw keys of the test doors (their digests go in the config)
KEYS = {"app": "sk-app-0001", "narrow": "sk-narrow-0002", "limited": "sk-limited-0003"}


def api_keys() -> list[dict[str, object]]:
    return [
        {"name": "app", "sha256": hash_key(KEYS["app"]), "priorities": ["high"]},
        {"name": "narrow", "sha256": hash_key(KEYS["narrow"]), "models": ["gpt-4o"]},
        {"name": "limited", "sha256": hash_key(KEYS["limited"]), "rpm": 1},
    ]


@asynccontextmanager
async def running_door(
    config: RouterConfig, engine: EngineKind = EngineKind.INLINE, door_id: str | None = None
) -> AsyncIterator[tuple[str, FrontDoor]]:
    """(base URL of the OpenAI API, the door) while a uvicorn server answers on an ephemeral port."""
    door = build_door(config, ServeOptions(engine, door_id=door_id))
    await door.start()
    server = uvicorn.Server(
        uvicorn.Config(DoorApp(door), host="127.0.0.1", port=0, lifespan="off", log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve())
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while not server.started:
            assert not task.done(), "uvicorn exited before it listened"
            assert asyncio.get_running_loop().time() < deadline, "uvicorn did not start within 10 s"
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}/v1", door
    finally:
        server.should_exit = True
        await task
        await door.aclose()

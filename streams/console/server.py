"""Running the console under uvicorn (uvloop, httptools), like the front door: the service starts (Kafka
followed, the first scrape done) before the port listens, and stops after uvicorn drained its connections."""

from __future__ import annotations

import asyncio
import logging

from schemas.config import RouterConfig
from schemas.errors import ConfigError

__all__ = ["parse_listen", "run", "serve"]

log = logging.getLogger(__name__)


def parse_listen(text: str | None, config: RouterConfig) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT``; missing parts from ``console.host`` / ``console.port``."""
    if not text:
        return config.console.host, config.console.port
    host, _, port = text.rpartition(":") if ":" in text else ("", "", text)
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"--listen {text!r}: use HOST:PORT, e.g. 127.0.0.1:8090") from None
    if not 0 <= number <= 65535:
        raise ConfigError(f"--listen {text!r}: port out of range")
    return host.strip("[]") or config.console.host, number


async def serve(config: RouterConfig, host: str, port: int) -> None:
    import uvicorn

    from streams.console.app import ConsoleApp
    from streams.console.service import ConsoleService

    if not config.console.keys:
        raise ConfigError(
            "the console has no keys: add console.keys (name, sha256 of the key, role admin or viewer); "
            'hash a key with: printf %s "$KEY" | sha256sum'
        )
    service = ConsoleService(config)
    await service.start()
    log.info("operations console (%d keys) on http://%s:%d/", len(service.auth), host, port)
    try:
        app = ConsoleApp(service)
        settings = uvicorn.Config(
            app, host=host, port=port, http="httptools", lifespan="off", access_log=False, log_config=None
        )
        settings.timeout_graceful_shutdown = 3  # open event streams never end by themselves
        await uvicorn.Server(settings).serve()
    finally:
        await service.aclose()


def run(config: RouterConfig, host: str, port: int) -> None:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(config, host, port))

"""Run a router worker process (a Faust worker); scale out by starting more with the same consumer group."""

from __future__ import annotations

import asyncio
import gc
import logging

from schemas.config import RouterConfig
from streams.app import create_app
from streams.topics import ensure_topics, tenant_topic_ids

__all__ = ["run_worker"]

log = logging.getLogger(__name__)


def run_worker(config: RouterConfig, *, loglevel: str | None = None, config_path: str | None = None) -> None:
    """Create missing topics, build the service, then run the Faust worker until SIGINT/SIGTERM (the service
    closes within about a second of the stop). ``config_path``: reloaded live when it changes. Does not return
    normally."""
    import faust  # heavy import, only where needed

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    created = loop.run_until_complete(
        ensure_topics(config.kafka, retry_tiers_s=config.worker.retry.tiers_s, tenants=tenant_topic_ids(config))
    )
    if created:
        log.info("created %d topics", len(created))
    app = loop.run_until_complete(
        create_app(config, loop=loop, config_path=config_path)
    )  # the engine is built before Kafka is joined
    # everything loaded so far lives for the whole process: keep it out of the collector's full passes
    # (fewer and shorter pauses of the event loop, which show up directly in queue-wait tails)
    gc.collect()
    gc.freeze()
    worker = faust.Worker(
        app, loglevel=loglevel or config.worker.loglevel, loop=loop, quiet=True, redirect_stdouts=False
    )
    worker.execute_from_commandline()

"""Run a router worker process (a Faust worker); scale out by starting more with the same consumer group."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Coroutine, Iterable
from typing import Any, Protocol

from infra.memory_probe import start_from_env
from infra.memory_trim import trim_periodically
from schemas.config import RouterConfig, WorkerSettings
from streams.app import create_app
from streams.logs import configure_logging
from streams.runtime import worker_id
from streams.topics import ensure_topics, tenant_topic_ids

__all__ = ["AssignmentLog", "new_event_loop", "run_worker", "tune_gc"]

log = logging.getLogger(__name__)

_BACKGROUND: set[asyncio.Task[None]] = set()


def run_worker(config: RouterConfig, *, loglevel: str | None = None, config_path: str | None = None) -> None:
    """Create missing topics, build the service, then run the Faust worker until SIGINT/SIGTERM (the service
    closes within about a second of the stop). ``config_path``: reloaded live when it changes. ``loglevel``:
    the root level (--log-level), over ``logging.level``. Logs are JSON lines unless ``logging.format`` says
    console; Faust's own logging setup only installs the router's handler. Does not return normally."""
    import faust  # heavy import, only where needed

    logs = configure_logging(
        config.logging,
        default_format="json",
        level=loglevel,
        library_level=config.worker.loglevel,
        static={"worker": worker_id()},
    )
    loop = new_event_loop(config.worker)
    asyncio.set_event_loop(loop)
    log.info("event loop: %s.%s", type(loop).__module__, type(loop).__name__)
    created = loop.run_until_complete(
        ensure_topics(config.kafka, retry_tiers_s=config.worker.retry.tiers_s, tenants=tenant_topic_ids(config))
    )
    if created:
        log.info("created %d topics", len(created))
    app = loop.run_until_complete(
        create_app(config, loop=loop, config_path=config_path, loghandlers=[logs.handler])
    )  # the engine is built before Kafka is joined
    app.router_service.engine.on_reload.append(lambda cfg: logs.apply(cfg.logging))
    app.on_partitions_assigned.connect(AssignmentLog().on_assigned)
    # everything loaded so far lives for the whole process: keep it out of the collector's full passes
    # (fewer and shorter pauses of the event loop, which show up directly in queue-wait tails)
    gc.collect()
    gc.freeze()
    tune_gc(config.worker)
    start_from_env()  # LLM_ROUTER_TRACEMALLOC=<file>: allocation growth every few minutes
    cache = app.router_service.engine.cache
    if cache is not None:
        _background(loop, _freeze_when_warm(cache.warmed), "gc-freeze-after-warm-up")
    _background(loop, trim_periodically(config.worker.memory_trim_s), "malloc-trim")
    worker = faust.Worker(
        app,
        loglevel=loglevel or config.logging.level,
        loop=loop,
        quiet=True,
        redirect_stdouts=False,
        logging_config={"version": 1, "incremental": True},  # Faust clears the root's handlers, adds app's
    )
    worker.spinner = None  # with a spinner, Faust would reset the root and handler levels
    worker.execute_from_commandline()


def new_event_loop(settings: WorkerSettings) -> asyncio.AbstractEventLoop:
    """The worker's loop: uvloop unless ``event_loop`` says asyncio (or uvloop is missing). The policy is set
    too, so the loops other threads make (Faust's consumer thread) are the same kind."""
    if settings.event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("uvloop is not installed: the worker runs the asyncio event loop")
        else:
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
            return asyncio.new_event_loop()
    asyncio.set_event_loop_policy(None)
    return asyncio.new_event_loop()


def tune_gc(settings: WorkerSettings) -> None:
    """Fewer young-generation passes: a request allocates a few thousand short-lived objects, and Python's
    threshold of 700 ran a pass every few requests (most of them freed by reference counting anyway)."""
    if settings.gc_gen0_threshold:
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(settings.gc_gen0_threshold, gen1, gen2)


def _background(loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, None], name: str) -> None:
    task = loop.create_task(work, name=name)
    _BACKGROUND.add(task)  # a task nobody references may be collected before it runs
    task.add_done_callback(_BACKGROUND.discard)


async def _freeze_when_warm(warmed: asyncio.Event) -> None:
    """The cache loads word lists and a second embedder after start (tens of thousands of objects that live as
    long as the process): once they are in, keep them out of the collector's full passes too."""
    await warmed.wait()
    gc.collect()
    gc.freeze()
    log.info("gc: %d long-lived objects frozen after the cache warm-up", gc.get_freeze_count())


class _Partition(Protocol):
    topic: str
    partition: int


class AssignmentLog:
    """One ``ready`` line, with the topics and partitions this worker got, when Faust first assigns them
    (``app.on_partitions_assigned``); ``reassigned`` lines after each later rebalance."""

    def __init__(self) -> None:
        self.ready = False

    async def on_assigned(self, sender: Any, /, *args: Any, signal: Any = None, **_: Any) -> None:
        """Faust's receiver: ``(app, assigned partitions, signal=...)``."""
        assigned: Iterable[_Partition] = args[0] if args else ()
        by_topic: dict[str, list[int]] = {}
        for tp in assigned:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        assignment = {topic: sorted(parts) for topic, parts in sorted(by_topic.items())}
        partitions = sum(len(p) for p in assignment.values())
        log.info("reassigned" if self.ready else "ready", extra={"assignment": assignment, "partitions": partitions})
        self.ready = True

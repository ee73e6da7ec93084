"""The console's background work: follow the health and failures topics, compute the group's lag, scrape the
workers every refresh, and answer the page's questions (snapshot, dead letters, replay)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import httpx

from schemas.config import RouterConfig
from schemas.events import FailureEvent, HealthEvent
from schemas.wire import TopicNames, decode
from streams.console.auth import ConsoleAuth
from streams.console.dlq_view import LetterCache, ReplayAsk, letter_row, newest, replay
from streams.console.feeds import Feed, follow
from streams.console.scrape import scrape_all
from streams.console.state import ConsoleState
from streams.consumer_lag import ConsumerLag
from streams.dlq import DeadLetterFilter
from streams.topics import tenant_topic_ids

__all__ = ["ConsoleService", "worker_urls"]

log = logging.getLogger(__name__)
#: failure events read back from the end of the topic at start (per partition)
_FAILURES_BACK = 50


def worker_urls(config: RouterConfig) -> list[str]:
    """``console.workers``, else the one worker of this host on ``worker.metrics_port``."""
    if config.console.workers:
        return list(config.console.workers)
    return [f"http://127.0.0.1:{config.worker.metrics_port}/metrics"] if config.worker.metrics_port else []


class ConsoleService:
    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self.settings = config.console
        self.auth = ConsoleAuth(config.console.keys)
        self.topics = TopicNames(config.kafka.topic_prefix)
        backends = [b.name for b in config.backends]
        self.state = ConsoleState(self.settings, self.topics, backends, error_bound=config.cache.max_error_rate)
        self._lag = ConsumerLag(config.kafka, self.topics.all_requests, interval_s=max(self.settings.refresh_s, 2.0))
        self._tasks: list[asyncio.Task[None]] = []
        self._letters = LetterCache(config)
        self._http = httpx.AsyncClient(timeout=max(self.settings.refresh_s, 1.0))

    async def start(self) -> None:
        feeds = [
            Feed(self.topics.health, lambda v: self.state.on_health(decode(HealthEvent, v))),
            Feed(self.topics.failures, self._on_failure, _FAILURES_BACK),
            # per-tenant topics on: each tenant's failures are on a topic of its own
            *(
                Feed(self.topics.failures_for(t), self._on_failure, _FAILURES_BACK)
                for t in tenant_topic_ids(self.config)
            ),
        ]
        works: dict[str, Callable[[], Awaitable[None]]] = {
            "feeds": lambda: follow(self.config.kafka, feeds),
            "lag": self._lag.run,
            "refresh": self._refresh_forever,
        }
        await self.refresh()  # the first page already has data
        for name, work in works.items():
            self._tasks.append(asyncio.create_task(_again_and_again(name, work)))

    def _on_failure(self, value: bytes) -> None:
        self.state.on_failure(decode(FailureEvent, value))

    async def refresh(self) -> None:
        scrapes = await scrape_all(self._http, worker_urls(self.config))
        self.state.tick(scrapes, self._lag.snapshot())

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.refresh_s)
            await self.refresh()

    def snapshot(self) -> dict[str, object]:
        return self.state.snapshot()

    async def dead_letters(self, flt: DeadLetterFilter) -> dict[str, object]:
        letters = await self._letters.matching(flt)
        by_reason: dict[str, int] = {}
        for letter in letters:
            by_reason[letter.reason.value] = by_reason.get(letter.reason.value, 0) + 1
        shown = newest(letters, self.settings.dead_letters_shown)
        return {"total": len(letters), "by_reason": by_reason, "rows": [letter_row(x) for x in shown]}

    async def replay(self, ask: ReplayAsk) -> dict[str, object]:
        return await replay(self.config, ask)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        await self._http.aclose()


async def _again_and_again(name: str, work: Callable[[], Awaitable[None]], pause_s: float = 5.0) -> None:
    """Run ``work`` until cancelled; if it fails (Kafka away, a topic not created yet), log and start it again."""
    while True:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("console: %s failed, again in %.0fs: %s: %s", name, pause_s, type(exc).__name__, exc)
        await asyncio.sleep(pause_s)

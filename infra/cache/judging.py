"""Judging a verification whose two answers differ as text (issue 14).

With real models two answers to the same question rarely match as text, so without a judge a verified cache
learns mostly that it must not serve. A judge (``cache.judge_model``: a model asked through the router itself,
:mod:`agents.cache_judge`) says whether the two answers agree. Its call takes a provider round, so it never
runs on the request's path: the fresh answer is served at once, and the judgement runs in the background,
bounded (``cache.judge_max_pending``); what it decides then teaches the model, the entry and the other replicas,
like an exact comparison does inline. A judgement that fails, or that finds no room, teaches nothing (the safe
side: without an observation the model stays as cautious as it was)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import Context
from dataclasses import dataclass

from infra.degraded import Degradation
from infra.shutdown import stop_tasks
from schemas.errors import CacheJudgeDeclined

__all__ = ["Judge", "JudgeCase", "JudgeVerdict", "PendingJudgements"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JudgeCase:
    """One comparison: the asker's prompt, the cached answer and the fresh one, and whose request it was (the
    judge's call is made as that tenant: its limits, entitlements and bill)."""

    tenant: str
    prompt: str
    cached: str
    fresh: str


#: asked when a cached and a fresh answer differ as text: agree (True), disagree (False)
Judge = Callable[[JudgeCase], Awaitable[bool]]
#: what a judgement taught: (the case, its verdict); called in the background task
JudgeVerdict = Callable[[JudgeCase, bool], Awaitable[None]]


class PendingJudgements:
    """The judgements running in the background, at most ``max_pending`` at once (each may hold a provider slot,
    so this also bounds the slots judging takes). One per cache, for its whole life: a reload swaps ``judge``
    and ``max_pending`` in place, so judgements already running stay tracked and are stopped on close. Counters
    say how many agreed, disagreed, failed (the judge raised: nothing learnt) and were skipped (no room, the
    judge declined the case, no judge, or closing)."""

    def __init__(self, judge: Judge | None, max_pending: int, counts: dict[str, int] | None = None) -> None:
        self.judge = judge
        self.max_pending = max_pending
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        #: failures logged at most once per 10 s (a judge that is down fails every judgement)
        self.failures = Degradation(log, "cache judge failed, its cases teach nothing", component="cache_judge")
        #: ``judge_{agreed,disagreed,failed,skipped}``; pass the cache's ``CacheStats.extra`` to export them
        self.counts = counts if counts is not None else {}
        for key in ("judge_agreed", "judge_disagreed", "judge_failed", "judge_skipped"):
            self.counts.setdefault(key, 0)

    def submit(self, case: JudgeCase, learn: JudgeVerdict) -> bool:
        """Start judging ``case``; ``learn`` gets the verdict. False: the case is dropped (counted as skipped)."""
        if self.judge is None or self._closed or len(self._tasks) >= self.max_pending:
            self.counts["judge_skipped"] += 1
            return False
        # a context of its own: the request's span and log fields must not outlive the request it was served for
        task = asyncio.create_task(self._run(self.judge, case, learn), name="cache-judge", context=Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(self, judge: Judge, case: JudgeCase, learn: JudgeVerdict) -> None:
        """Ask ``judge``; a verdict teaches, a decline or a failure teaches nothing."""
        try:
            agreed = await judge(case)
        except CacheJudgeDeclined:
            self.counts["judge_skipped"] += 1
            return
        except Exception as exc:  # a judge that fails says nothing: no observation (the model stays cautious)
            self.counts["judge_failed"] += 1
            self.failures.report(exc)
            return
        self.counts["judge_agreed" if agreed else "judge_disagreed"] += 1
        try:
            await learn(case, agreed)
        except Exception:  # e.g. the embedder's pool closed under a late verdict: the lesson is lost, nothing else
            log.warning("a judged verification could not be learnt", exc_info=True)

    @property
    def pending(self) -> int:
        """Judgements running now."""
        return len(self._tasks)

    async def settled(self) -> None:
        """Return once every judgement started so far has finished (tests)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def aclose(self, timeout_s: float) -> None:
        """Take no more, and cancel the running judgements at once: at shutdown the backends they call are being
        closed too, so waiting would only turn them into failures (their cases teach nothing either way)."""
        self._closed = True
        if self._tasks:
            await stop_tasks(list(self._tasks), timeout_s)

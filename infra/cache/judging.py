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
from dataclasses import dataclass

from infra.degraded import Degradation
from infra.shutdown import stop_tasks

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
    """The judgements running in the background, at most ``max_pending`` at once. Counters say how many agreed,
    disagreed, failed (the judge raised: nothing learnt) and were skipped for want of room."""

    def __init__(self, judge: Judge, max_pending: int, counts: dict[str, int] | None = None) -> None:
        self.judge = judge
        self.max_pending = max_pending
        self._tasks: set[asyncio.Task[None]] = set()
        #: failures logged at most once per 10 s (a judge that is down fails every judgement)
        self.failures = Degradation(log, "cache judge failed, its cases teach nothing", component="cache_judge")
        #: ``judge_{agreed,disagreed,failed,skipped}``; pass the cache's ``CacheStats.extra`` to export them
        self.counts = counts if counts is not None else {}
        for key in ("judge_agreed", "judge_disagreed", "judge_failed", "judge_skipped"):
            self.counts.setdefault(key, 0)

    def submit(self, case: JudgeCase, learn: JudgeVerdict) -> bool:
        """Start judging ``case``; ``learn`` gets the verdict. False: no room, the case is dropped."""
        if len(self._tasks) >= self.max_pending:
            self.counts["judge_skipped"] += 1
            return False
        task = asyncio.create_task(self._run(case, learn), name="cache-judge")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(self, case: JudgeCase, learn: JudgeVerdict) -> None:
        try:
            agreed = await self.judge(case)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a judge that fails says nothing: no observation (the model stays cautious)
            self.counts["judge_failed"] += 1
            self.failures.report(exc)
            return
        self.counts["judge_agreed" if agreed else "judge_disagreed"] += 1
        await learn(case, agreed)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def settled(self) -> None:
        """Return once every judgement started so far has finished (tests, and a graceful close)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def aclose(self, timeout_s: float) -> None:
        """Give running judgements ``timeout_s`` to finish, then cancel the rest (their cases teach nothing)."""
        tasks = list(self._tasks)
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=timeout_s)
        if late:
            await stop_tasks(list(late), timeout_s)

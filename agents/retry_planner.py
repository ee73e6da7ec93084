"""After a round that found no answer: give up, or try again after how long. Pure (no I/O, no clock of its own:
``now`` and the circuits' wait times come in), so every branch is tested directly."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from agents.round_state import RoundState, time_left
from schemas.config import RetrySettings
from schemas.events import DeadLetterReason, ErrorCode, RetryState, Stage
from schemas.wire import MAX_RETRY_ROUNDS

__all__ = ["MIN_WAIT_S", "SATURATED_WAIT_S", "GiveUp", "RetryPlan", "WaitNotice", "plan_retry"]

MIN_WAIT_S = 0.2  # when nothing could be called: the shortest wait before looking again
SATURATED_WAIT_S = 1.0  # after limits.concurrency_wait_s at the cap: the wait before looking again


@dataclass(frozen=True)
class WaitNotice:
    """Why a round called no provider at all (reported as a non-terminal ``route`` failure)."""

    code: ErrorCode
    message: str


@dataclass(frozen=True)
class GiveUp:
    """No retry: the request ends with this error (and dead letter ``reason``)."""

    reason: DeadLetterReason
    stage: Stage
    code: ErrorCode | str
    message: str
    notice: WaitNotice | None = None


@dataclass(frozen=True)
class RetryPlan:
    """Try again after ``delay_s`` with ``state`` (rounds counted, ``not_before`` set)."""

    delay_s: float
    state: RetryState
    notice: WaitNotice | None = None


def plan_retry(
    round_: RoundState,
    settings: RetrySettings,
    *,
    backoff: Callable[[int, float | None], float],
    now: datetime,
    open_waits: Sequence[float],
) -> GiveUp | RetryPlan:
    """``backoff(rounds, retry_after)`` is the policy's delay; ``open_waits`` are the seconds until each
    candidate's circuit lets a call through (used only when nothing was called)."""
    state = round_.retry
    last = state.last_error
    exhausted = last.code if last else ErrorCode.RETRIES_EXHAUSTED
    suffix = f"; last error: {last.message}" if last else ""
    if round_.calls >= settings.max_attempts:
        message = f"gave up after {round_.calls} attempts{suffix}"
        return GiveUp(DeadLetterReason.RETRIES_EXHAUSTED, Stage.PROVIDER, exhausted, message)
    if state.rounds >= MAX_RETRY_ROUNDS:  # beyond, 2 ** (rounds - 1) in the backoff overflows a float
        message = f"gave up after {state.rounds} rounds{suffix}"
        return GiveUp(DeadLetterReason.RETRIES_EXHAUSTED, Stage.PROVIDER, exhausted, message)
    rounds = state.rounds + 1
    notice: WaitNotice | None = None
    if round_.retry_afters:
        delay = backoff(rounds, _retry_after(round_.retry_afters))
    else:
        notice, delay = _nothing_called(round_, settings, open_waits)
    left = time_left(round_.request, now)
    if left is not None and delay + settings.min_call_s >= left:
        floor = f", retry.min_call_s {settings.min_call_s:g}s" if settings.min_call_s else ""
        message = f"no retry can finish before the deadline (next try in {delay:.2f}s, {left:.2f}s left{floor}){suffix}"
        return GiveUp(DeadLetterReason.DEADLINE_EXPIRED, Stage.DEADLINE, ErrorCode.DEADLINE_EXPIRED, message, notice)
    waited_total = (now - state.first_seen).total_seconds() + delay
    if waited_total > settings.max_total_s:
        message = f"gave up after {waited_total:.0f}s (retry.max_total_s){suffix}"
        return GiveUp(DeadLetterReason.RETRIES_EXHAUSTED, Stage.PROVIDER, exhausted, message, notice)
    next_state = state.model_copy(update={"rounds": rounds, "not_before": now + timedelta(seconds=delay)})
    return RetryPlan(delay, next_state, notice)


def _retry_after(retry_afters: Sequence[float | None]) -> float | None:
    """Retry-After counts only when every failed call gave one: then the earliest of them wins."""
    given = [ra for ra in retry_afters if ra is not None]
    return min(given) if len(given) == len(retry_afters) else None


def _nothing_called(
    round_: RoundState, settings: RetrySettings, open_waits: Sequence[float]
) -> tuple[WaitNotice, float]:
    """Every candidate stayed at its concurrency cap, is rate limited, or has its circuit open: wait for the
    soonest of them to have room, at least :data:`MIN_WAIT_S` and at most ``max_delay_s``."""
    waits: Sequence[float]
    if round_.busy and not round_.limited:
        code, waits = ErrorCode.SATURATED_WAIT, (SATURATED_WAIT_S,)
        what = f"every candidate stayed at its concurrency cap for {round_.waited_s:.2f}s"
    elif round_.limited:
        code, waits, what = ErrorCode.RATE_LIMITED_WAIT, round_.limited, "every candidate is at a rate limit"
    else:
        backends = ", ".join(c.backend for c in round_.candidates)
        code, waits, what = ErrorCode.ALL_BACKENDS_OPEN, open_waits, f"every candidate ({backends}) is open"
    delay = min(max(min(waits, default=0.0), MIN_WAIT_S), settings.max_delay_s)
    return WaitNotice(code, f"{what}; waiting {delay:.2f}s"), delay

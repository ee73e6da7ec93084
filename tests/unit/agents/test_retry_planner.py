"""The pure retry planner: every branch, every boundary, with a fixed ``now`` and a recording backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agents.retry_planner import MIN_WAIT_S, SATURATED_WAIT_S, GiveUp, RetryPlan, WaitNotice, plan_retry
from agents.round_state import RoundState
from agents.routing import Candidate
from schemas.config import RetrySettings
from schemas.events import (
    Attempt,
    ChatMessage,
    ChatRequest,
    DeadLetterReason,
    ErrorCode,
    ErrorInfo,
    RetryState,
    Stage,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
BOOM = ErrorInfo(code=ErrorCode.PROVIDER_UNAVAILABLE, message="b2: HTTP 503", retriable=True)


def _settings(**kw: float) -> RetrySettings:
    values: dict[str, float] = {
        "max_attempts": 4,
        "base_delay_s": 0.1,
        "max_delay_s": 2.0,
        "max_total_s": 60.0,
        "min_call_s": 0.0,  # the boundary tests below are about the delay alone; min_call_s has its own
    }
    return RetrySettings.model_validate({**values, **kw})


def _round(
    *,
    calls: int = 1,
    retry_afters: list[float | None] | None = None,
    limited: list[float] | None = None,
    busy: bool = False,
    waited_s: float = 0.0,
    deadline_in: float | None = None,
    first_seen_ago: float = 0.0,
    rounds: int = 0,
    last_error: ErrorInfo | None = BOOM,
) -> RoundState:
    deadline = NOW + timedelta(seconds=deadline_in) if deadline_in is not None else None
    request = ChatRequest(messages=[ChatMessage(role="user", content="hi")], deadline=deadline)
    attempts = [Attempt(backend="b1", model="m", ok=False) for _ in range(calls)]
    retry = RetryState(
        rounds=rounds, attempts=attempts, first_seen=NOW - timedelta(seconds=first_seen_ago), last_error=last_error
    )
    return RoundState(
        request,
        retry,
        candidates=[Candidate("b1", "m"), Candidate("b2", "m")],
        retry_afters=[None] * calls if retry_afters is None else retry_afters,
        limited=limited or [],
        busy=busy,
        waited_s=waited_s,
    )


class Backoff:
    """Records what it was asked; answers ``retry_after`` when given, else ``delay``."""

    def __init__(self, delay: float = 0.5) -> None:
        self.delay = delay
        self.asked: list[tuple[int, float | None]] = []

    def __call__(self, rounds: int, retry_after: float | None) -> float:
        self.asked.append((rounds, retry_after))
        return self.delay if retry_after is None else retry_after


def _plan(
    round_: RoundState,
    backoff: Backoff | None = None,
    *,
    settings: RetrySettings | None = None,
    open_waits: list[float] | None = None,
) -> GiveUp | RetryPlan:
    return plan_retry(
        round_,
        settings or _settings(),
        backoff=backoff or Backoff(),
        now=NOW,
        open_waits=[0.0] if open_waits is None else open_waits,
    )


# --- attempts used up ------------------------------------------------------------------------------------------
def test_gives_up_when_every_attempt_is_used_with_the_last_error_code() -> None:
    backoff = Backoff()
    decision = _plan(_round(calls=4), backoff)
    assert decision == GiveUp(
        DeadLetterReason.RETRIES_EXHAUSTED,
        Stage.PROVIDER,
        ErrorCode.PROVIDER_UNAVAILABLE,
        "gave up after 4 attempts; last error: b2: HTTP 503",
    )
    assert backoff.asked == []


def test_gives_up_with_retries_exhausted_when_no_error_was_recorded() -> None:
    decision = _plan(_round(calls=5, last_error=None))
    assert decision == GiveUp(
        DeadLetterReason.RETRIES_EXHAUSTED, Stage.PROVIDER, ErrorCode.RETRIES_EXHAUSTED, "gave up after 5 attempts"
    )


def test_one_attempt_left_is_still_a_retry() -> None:
    assert isinstance(_plan(_round(calls=3)), RetryPlan)


def test_used_up_attempts_win_over_a_passed_deadline() -> None:
    decision = _plan(_round(calls=4, deadline_in=-1.0))
    assert isinstance(decision, GiveUp) and decision.reason is DeadLetterReason.RETRIES_EXHAUSTED


# --- something was called: backoff, Retry-After ------------------------------------------------------------------
def test_retry_plan_counts_the_round_and_sets_not_before() -> None:
    round_ = _round(rounds=2)
    backoff = Backoff(delay=0.75)
    decision = _plan(round_, backoff)
    assert isinstance(decision, RetryPlan)
    assert decision.delay_s == 0.75 and decision.notice is None
    assert backoff.asked == [(3, None)]  # the rounds failed so far, this one included
    assert decision.state.rounds == 3
    assert decision.state.not_before == NOW + timedelta(seconds=0.75)
    assert decision.state.attempts == round_.retry.attempts and decision.state.last_error == BOOM
    assert round_.retry.rounds == 2  # the round's state is not changed


def test_the_earliest_retry_after_wins_when_every_failed_call_gave_one() -> None:
    backoff = Backoff()
    decision = _plan(_round(calls=2, retry_afters=[1.5, 0.4]), backoff)
    assert backoff.asked == [(1, 0.4)]
    assert isinstance(decision, RetryPlan) and decision.delay_s == 0.4


def test_retry_after_is_ignored_unless_every_failed_call_gave_one() -> None:
    backoff = Backoff(delay=0.3)
    decision = _plan(_round(calls=2, retry_afters=[0.4, None]), backoff)
    assert backoff.asked == [(1, None)]
    assert isinstance(decision, RetryPlan) and decision.delay_s == 0.3


def test_a_called_round_is_not_a_wait_even_when_busy_or_limited() -> None:
    decision = _plan(_round(calls=1, busy=True, limited=[5.0]))
    assert isinstance(decision, RetryPlan) and decision.notice is None and decision.delay_s == 0.5


# --- nothing was called: why, and how long to wait ----------------------------------------------------------------
def test_saturated_waits_the_fixed_pause_and_says_how_long_it_waited() -> None:
    backoff = Backoff()
    decision = _plan(_round(calls=0, busy=True, waited_s=0.25), backoff)
    assert isinstance(decision, RetryPlan) and decision.delay_s == SATURATED_WAIT_S
    message = "every candidate stayed at its concurrency cap for 0.25s; waiting 1.00s"
    assert decision.notice == WaitNotice(ErrorCode.SATURATED_WAIT, message)
    assert backoff.asked == []


def test_saturated_wait_is_capped_by_max_delay() -> None:
    decision = _plan(_round(calls=0, busy=True), settings=_settings(max_delay_s=0.5))
    assert isinstance(decision, RetryPlan) and decision.delay_s == 0.5


def test_rate_limited_waits_for_the_soonest_room() -> None:
    decision = _plan(_round(calls=0, busy=True, limited=[1.5, 0.9]))
    assert isinstance(decision, RetryPlan) and decision.delay_s == 0.9
    assert decision.notice == WaitNotice(
        ErrorCode.RATE_LIMITED_WAIT, "every candidate is at a rate limit; waiting 0.90s"
    )


@pytest.mark.parametrize(("room_in", "delay"), [(0.05, MIN_WAIT_S), (MIN_WAIT_S, MIN_WAIT_S), (9.0, 2.0)])
def test_a_wait_is_at_least_the_minimum_and_at_most_max_delay(room_in: float, delay: float) -> None:
    decision = _plan(_round(calls=0, limited=[room_in]))
    assert isinstance(decision, RetryPlan) and decision.delay_s == delay


def test_open_circuits_wait_for_the_first_to_half_open() -> None:
    decision = _plan(_round(calls=0), open_waits=[0.7, 0.4])
    assert isinstance(decision, RetryPlan) and decision.delay_s == 0.4
    assert decision.notice == WaitNotice(ErrorCode.ALL_BACKENDS_OPEN, "every candidate (b1, b2) is open; waiting 0.40s")


@pytest.mark.parametrize("open_waits", [[0.0], []])
def test_open_circuits_without_a_known_wait_look_again_after_the_minimum(open_waits: list[float]) -> None:
    decision = _plan(_round(calls=0), open_waits=open_waits)
    assert isinstance(decision, RetryPlan) and decision.delay_s == MIN_WAIT_S


# --- the deadline -----------------------------------------------------------------------------------------------
def test_no_retry_that_starts_at_the_deadline() -> None:
    decision = _plan(_round(deadline_in=0.5))
    assert decision == GiveUp(
        DeadLetterReason.DEADLINE_EXPIRED,
        Stage.DEADLINE,
        ErrorCode.DEADLINE_EXPIRED,
        "no retry can finish before the deadline (next try in 0.50s, 0.50s left); last error: b2: HTTP 503",
    )


def test_a_retry_that_starts_before_the_deadline_is_planned() -> None:
    assert isinstance(_plan(_round(deadline_in=0.500001)), RetryPlan)


def test_no_retry_that_would_leave_less_than_min_call_s_for_its_call() -> None:
    """A retry's trip through its delay topic and its call need time: with 0.3 s of delay and 0.7 s left, a
    0.5 s minimum call budget cannot be met, so the request ends now (by its deadline) instead of retrying into
    it and ending late."""
    settings = _settings(min_call_s=0.5)
    rounds = _round(retry_afters=[0.3], deadline_in=0.7)
    decision = plan_retry(rounds, settings, backoff=lambda _r, ra: ra or 0.0, now=NOW, open_waits=[0.0])
    assert isinstance(decision, GiveUp) and decision.code == ErrorCode.DEADLINE_EXPIRED
    assert "0.30s" in decision.message and "0.70s left" in decision.message and "min_call_s" in decision.message
    roomy = _round(retry_afters=[0.3], deadline_in=0.81)
    assert isinstance(
        plan_retry(roomy, settings, backoff=lambda _r, ra: ra or 0.0, now=NOW, open_waits=[0.0]), RetryPlan
    )
    assert RetrySettings().min_call_s == 0.5


def test_a_deadline_give_up_keeps_the_reason_nothing_was_called() -> None:
    decision = _plan(_round(calls=0, limited=[1.0], deadline_in=0.5, last_error=None))
    assert isinstance(decision, GiveUp) and decision.code == ErrorCode.DEADLINE_EXPIRED
    assert decision.message == "no retry can finish before the deadline (next try in 1.00s, 0.50s left)"
    assert decision.notice == WaitNotice(
        ErrorCode.RATE_LIMITED_WAIT, "every candidate is at a rate limit; waiting 1.00s"
    )


# --- retry.max_total_s --------------------------------------------------------------------------------------------
def test_gives_up_when_the_retry_would_end_past_max_total() -> None:
    decision = _plan(_round(first_seen_ago=59.6))
    assert decision == GiveUp(
        DeadLetterReason.RETRIES_EXHAUSTED,
        Stage.PROVIDER,
        ErrorCode.PROVIDER_UNAVAILABLE,
        "gave up after 60s (retry.max_total_s); last error: b2: HTTP 503",
    )


def test_a_retry_ending_exactly_at_max_total_is_planned() -> None:
    assert isinstance(_plan(_round(first_seen_ago=59.5)), RetryPlan)


def test_max_total_give_up_without_an_error_and_with_a_wait_notice() -> None:
    decision = _plan(_round(calls=0, busy=True, first_seen_ago=59.5, last_error=None))
    assert isinstance(decision, GiveUp)
    assert (decision.code, decision.message) == (ErrorCode.RETRIES_EXHAUSTED, "gave up after 60s (retry.max_total_s)")
    assert decision.notice is not None and decision.notice.code is ErrorCode.SATURATED_WAIT


def test_the_deadline_is_checked_before_max_total() -> None:
    decision = _plan(_round(deadline_in=0.1, first_seen_ago=100.0))
    assert isinstance(decision, GiveUp) and decision.reason is DeadLetterReason.DEADLINE_EXPIRED


# --- the rounds cap (issue 12, finding 3) --------------------------------------------------------------------------


def test_a_request_gives_up_once_it_waited_the_most_rounds() -> None:
    from schemas.wire import MAX_RETRY_ROUNDS

    backoff = Backoff()
    decision = _plan(_round(rounds=MAX_RETRY_ROUNDS), backoff)
    assert decision == GiveUp(
        DeadLetterReason.RETRIES_EXHAUSTED,
        Stage.PROVIDER,
        ErrorCode.PROVIDER_UNAVAILABLE,
        f"gave up after {MAX_RETRY_ROUNDS} rounds; last error: b2: HTTP 503",
    )
    assert backoff.asked == []  # 2 ** (rounds - 1) is never computed beyond the cap


def test_the_last_round_below_the_cap_still_retries() -> None:
    from schemas.wire import MAX_RETRY_ROUNDS

    decision = _plan(_round(rounds=MAX_RETRY_ROUNDS - 1))
    assert isinstance(decision, RetryPlan) and decision.state.rounds == MAX_RETRY_ROUNDS

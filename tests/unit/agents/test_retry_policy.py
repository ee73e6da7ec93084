import random

import pytest

from agents.retry_policy import RetryPolicy
from schemas.config import RetrySettings


def _policy(**kw: float) -> RetryPolicy:
    return RetryPolicy(RetrySettings(**kw), rng=random.Random(1))  # type: ignore[arg-type]


def test_backoff_is_full_jitter_under_exponential_cap() -> None:
    policy = _policy(base_delay_s=0.1, max_delay_s=1.0, max_attempts=10)
    for attempt in range(1, 8):
        ceiling = min(1.0, 0.1 * 2 ** (attempt - 1))
        draws = [policy.backoff(attempt) for _ in range(300)]
        assert all(0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8  # jitter spreads over the whole range
        assert min(draws) < ceiling * 0.2


def test_retry_after_wins_even_above_cap() -> None:
    policy = _policy(base_delay_s=0.1, max_delay_s=1.0)
    assert policy.backoff(1, retry_after=7.0) == 7.0


def test_no_retry_for_non_retriable_or_exhausted() -> None:
    policy = _policy(max_attempts=3)
    assert policy.next_delay(1, retriable=False) is None
    assert policy.next_delay(3, retriable=True) is None
    assert policy.next_delay(2, retriable=True) is not None


@pytest.mark.parametrize(
    ("retry_after", "left", "expect_retry"), [(2.0, 1.0, False), (1.0, 1.0, False), (0.5, 1.0, True)]
)
def test_deadline_aware(retry_after: float, left: float, expect_retry: bool) -> None:
    policy = _policy(max_attempts=5)
    delay = policy.next_delay(1, retriable=True, retry_after=retry_after, time_left_s=left)
    assert (delay is not None) is expect_retry  # a retry due exactly at the deadline cannot finish before it

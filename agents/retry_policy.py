"""Exponential backoff with full jitter, capped; a provider's Retry-After wins; deadline-aware."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from schemas.config import RetrySettings

__all__ = ["RetryPolicy"]


@dataclass
class RetryPolicy:
    """Decides whether and when to try again."""

    settings: RetrySettings
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Delay before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return max(retry_after, 0.0)
        ceiling = min(self.settings.max_delay_s, self.settings.base_delay_s * (2 ** (attempt - 1)))
        return self.rng.uniform(0.0, ceiling)

    def next_delay(
        self, attempt: int, *, retriable: bool, retry_after: float | None = None, time_left_s: float | None = None
    ) -> float | None:
        """Seconds to wait before retrying, or ``None`` when no retry should happen."""
        if not retriable or attempt >= self.settings.max_attempts:
            return None
        delay = self.backoff(attempt, retry_after)
        if time_left_s is not None and delay >= time_left_s:
            return None
        return delay

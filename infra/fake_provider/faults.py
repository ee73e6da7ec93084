"""Per-backend fault plans for the fake provider."""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BackendStats", "FaultPlan"]


class FaultPlan(BaseModel):
    """What a fake backend does to each call. Probabilities are drawn independently per call."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(default=0.0, ge=0, description="mean added latency")
    latency_jitter_ms: float = Field(default=0.0, ge=0, description="uniform +/- jitter around the mean")
    error_rate: float = Field(default=0.0, ge=0, le=1, description="share of calls answered with error_status")
    error_status: int = Field(default=500, ge=400, le=599)
    rate_limit_rate: float = Field(default=0.0, ge=0, le=1, description="share of calls answered 429")
    retry_after_s: float | None = Field(default=1.0, ge=0, description="Retry-After sent with 429/503")
    outage: bool = Field(default=False, description="every call answered 503 while set")
    max_concurrency: int | None = Field(default=None, ge=1, description="calls served at once; the rest queue")

    def draw_latency(self, rng: random.Random) -> float:
        if self.latency_jitter_ms:
            return max(self.latency_ms + rng.uniform(-self.latency_jitter_ms, self.latency_jitter_ms), 0.0) / 1000
        return self.latency_ms / 1000


class BackendStats(BaseModel):
    calls: int = 0
    ok: int = 0
    errors: int = 0
    rate_limited: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

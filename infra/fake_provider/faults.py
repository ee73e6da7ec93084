"""Per-backend fault plans for the fake provider."""

from __future__ import annotations

import math
import random
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BackendStats", "FaultPlan"]


class FaultPlan(BaseModel):
    """What a fake backend does to each call. First, like a real provider, it checks the credentials
    (``api_key``: 401) and the model (``models``: 404); then probabilities are drawn independently per call, in
    this order: outage → reset → hang → 429 → latency → error → trickle (a successful answer sent a few bytes at
    a time: every read makes progress, so only an overall deadline ends the call)."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = Field(default=None, description="calls without this key are answered 401 (revoked key)")
    models: list[str] | None = Field(default=None, description="models served; any other is answered 404")
    latency_ms: float = Field(default=0.0, ge=0, description="added latency: the mean, or the median for lognormal")
    latency_jitter_ms: float = Field(default=0.0, ge=0, description="spread: +/- for uniform, ignored for fixed")
    latency_dist: Literal["fixed", "uniform", "exponential", "lognormal"] = "uniform"
    latency_sigma: float = Field(
        default=0.6,
        ge=0,
        description="lognormal only: standard deviation of the latency's logarithm (real providers: a long right "
        "tail, so slots are not released in synchronized waves)",
    )
    error_rate: float = Field(default=0.0, ge=0, le=1, description="share of calls answered with error_status")
    error_status: int = Field(default=500, ge=400, le=599)
    rate_limit_rate: float = Field(default=0.0, ge=0, le=1, description="share of calls answered 429")
    retry_after_s: float | None = Field(default=1.0, ge=0, description="Retry-After sent with 429/503")
    outage: bool = Field(default=False, description="every call answered 503 while set")
    outage_for_s: float | None = Field(default=None, gt=0, description="outage that heals by itself after this")
    hang_rate: float = Field(default=0.0, ge=0, le=1, description="share of calls that never answer (until hang_s)")
    hang_s: float = Field(default=600.0, gt=0)
    reset_rate: float = Field(default=0.0, ge=0, le=1, description="share of calls whose connection is reset")
    trickle_rate: float = Field(default=0.0, ge=0, le=1, description="share of answers sent a few bytes at a time")
    trickle_bytes: int = Field(default=8, ge=1, description="bytes per trickled chunk")
    trickle_interval_s: float = Field(default=0.2, ge=0, description="pause before each trickled chunk")
    stream_interval_s: float = Field(default=0.0, ge=0, description="pause after each streamed event")
    max_concurrency: int | None = Field(default=None, ge=1, description="calls served at once; the rest queue")
    count_prompts: bool = Field(
        default=False,
        description="count calls per prompt (the last user message, first 200 characters) for "
        "GET /admin/backends/{backend}/prompts: a workload that puts its request id in the prompt sees how many "
        "provider calls each request cost (off by default: one counter per distinct prompt)",
    )
    fixed_answer: str | None = Field(
        default=None,
        description="every successful answer is this text instead of the echo of the prompt (e.g. a judge model that "
        "says YES, or NO)",
    )
    outage_until: float | None = Field(default=None, description="set by the server from outage_for_s")

    def in_outage(self, now: float | None = None) -> bool:
        if self.outage:
            return True
        return self.outage_until is not None and (time.time() if now is None else now) < self.outage_until

    def draw_latency(self, rng: random.Random) -> float:
        if self.latency_dist == "lognormal" and self.latency_ms:
            return self.latency_ms * math.exp(rng.gauss(0.0, self.latency_sigma)) / 1000
        if self.latency_dist == "exponential" and self.latency_ms:
            return rng.expovariate(1.0 / self.latency_ms) / 1000
        if self.latency_dist == "uniform" and self.latency_jitter_ms:
            return max(self.latency_ms + rng.uniform(-self.latency_jitter_ms, self.latency_jitter_ms), 0.0) / 1000
        return self.latency_ms / 1000


class BackendStats(BaseModel):
    calls: int = 0
    ok: int = 0
    errors: int = 0
    rate_limited: int = 0
    auth_rejected: int = 0
    model_not_found: int = 0
    outage_rejected: int = 0
    hung: int = 0
    resets: int = 0
    trickled: int = 0
    #: calls whose client went away before the answer was whole (a cancelled stream, a call given up on)
    abandoned: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

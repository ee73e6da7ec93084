"""Small in-process stand-ins shared by unit and functional tests (never for Kafka or Redis behaviour)."""

from __future__ import annotations

import asyncio

from infra.idempotency import Claim, ClaimState


class MemoryIdempotency:
    """An IdempotencyStore kept in dicts, with the Redis store's claim semantics on a clock the test moves
    (``now``): what the pipeline remembered and claimed, for tests that read it back. ``unavailable`` plays a
    Redis that is down (claims UNCHECKED, nothing remembered)."""

    def __init__(self) -> None:
        self.done: dict[str, bytes] = {}
        self.claims: dict[str, tuple[str, float]] = {}  # key -> (token, expires at)
        self.now = 0.0
        self.unavailable = False

    async def get(self, key: str) -> bytes | None:
        return None if self.unavailable else self.done.get(key)

    async def put(self, key: str, response: bytes) -> None:
        if not self.unavailable:
            self.done[key] = response

    def _holder(self, key: str) -> str | None:
        token, expires = self.claims.get(key, ("", 0.0))
        if token and expires <= self.now:
            del self.claims[key]
            return None
        return token or None

    async def claim(self, key: str, token: str, ttl_s: float) -> Claim:
        if self.unavailable:
            return Claim(ClaimState.UNCHECKED)
        if key in self.done:
            return Claim(ClaimState.ANSWERED, self.done[key])
        if self._holder(key) not in (None, token):
            return Claim(ClaimState.BUSY)
        self.claims[key] = (token, self.now + ttl_s)
        return Claim(ClaimState.OWNED)

    async def renew(self, key: str, token: str, ttl_s: float) -> bool:
        if self._holder(key) != token:
            return False
        self.claims[key] = (token, self.now + ttl_s)
        return True

    async def answer(self, key: str, token: str, response: bytes) -> None:
        if not self.unavailable:
            self.done[key] = response
            if self._holder(key) == token:
                del self.claims[key]

    async def release(self, key: str, token: str) -> None:
        if self._holder(key) == token:
            del self.claims[key]

    async def aclose(self) -> None:
        return None


async def ignore_cancellation(release: asyncio.Event) -> None:
    """A task that swallows every cancel until ``release`` is set: the worst case a bounded shutdown must survive."""
    while not release.is_set():
        try:
            await release.wait()
        except asyncio.CancelledError:
            continue

"""One provider call per request id, across workers: the copy that claims a request serves it and keeps the claim
alive while it works; any other copy waits for its answer and re-publishes that.

Why a heartbeat and not one long expiry: an owner that dies must release the request quickly (its redelivered
record waits on the claim), while a live owner may legitimately take minutes (queued behind higher classes). A
short TTL renewed every third of it gives both. A copy never waits forever: after ``wait_s`` it serves the request
itself — a second call is better than a request held by a stuck worker. Without shared state (Redis off, down or
bypassed by its breaker) every copy serves: duplicates are then possible, never a loss or a stall."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from infra.idempotency import ClaimState, IdempotencyStore

__all__ = ["Answered", "Owned", "RequestClaims"]

log = logging.getLogger(__name__)

#: first and largest wait between two looks at a busy claim (the wait doubles)
POLL_FIRST_S = 0.05
POLL_MAX_S = 1.0


@dataclass(frozen=True)
class Answered:
    """Another copy served the request: publish ``response`` again, make no call. ``waited``: this copy found
    the request in flight and waited for it."""

    response: bytes
    waited: bool


@dataclass
class Owned:
    """This copy serves the request. ``checked`` is False when there was no shared state to claim in."""

    key: str
    token: str
    checked: bool
    waited: bool
    #: the claim was given back already (answered): a later release costs no round trip
    released: bool = False


class RequestClaims:
    """Claims in ``store`` (``ttl_s``: expiry, renewed every ``ttl_s / 3`` while held; ``wait_s``: the longest a
    copy waits for another's answer). ``sleep`` is injected by tests that move a store's clock."""

    def __init__(
        self,
        store: IdempotencyStore,
        *,
        ttl_s: float = 15.0,
        wait_s: float = 600.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._wait_s = wait_s
        self._sleep = sleep

    async def acquire(self, key: str) -> Answered | Owned:
        """The answer if ``key`` was served; else the claim, after waiting while another copy holds it."""
        token = uuid.uuid4().hex
        waited, delay = 0.0, POLL_FIRST_S
        while True:
            claim = await self._store.claim(key, token, self._ttl_s)
            if claim.state is ClaimState.ANSWERED and claim.response is not None:
                return Answered(claim.response, waited > 0)
            if claim.state is not ClaimState.BUSY:
                return Owned(key, token, claim.state is ClaimState.OWNED, waited > 0)
            if waited >= self._wait_s:
                log.warning("request %s still claimed after %.0fs of waiting: serving this copy too", key, waited)
                return Owned(key, token, False, True)
            await self._sleep(delay)
            waited += delay
            delay = min(delay * 2, POLL_MAX_S, max(self._wait_s - waited, POLL_FIRST_S))

    @contextlib.asynccontextmanager
    async def held(self, owned: Owned) -> AsyncIterator[None]:
        """Renew ``owned``'s claim while the body runs (the call may outlast the TTL)."""
        if not owned.checked:
            yield
            return
        heartbeat = asyncio.create_task(self._renew(owned), name=f"claim-heartbeat:{owned.key}")
        try:
            yield
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _renew(self, owned: Owned) -> None:
        while True:
            await asyncio.sleep(self._ttl_s / 3)
            if not await self._store.renew(owned.key, owned.token, self._ttl_s):
                log.warning("claim on request %s was lost mid-call (expired or taken over)", owned.key)
                return

    async def answered(self, owned: Owned, response: bytes) -> None:
        """Remember the answer (before it is published: a crash after this is answered from memory), then drop
        the claim, in one store call; copies waiting on it find the answer on their next look. An unchecked claim
        (no shared state when it was taken) has nothing to drop: the answer is still written if Redis is back."""
        if owned.checked and not owned.released:
            await self._store.answer(owned.key, owned.token, response)
        else:
            await self._store.put(owned.key, response)
        owned.released = True

    async def release(self, owned: Owned) -> None:
        """Give the request back unanswered (a retry was scheduled, or serving failed)."""
        if owned.checked and not owned.released:
            await self._store.release(owned.key, owned.token)

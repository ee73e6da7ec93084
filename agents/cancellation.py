"""Requests their requester withdrew (:class:`schemas.events.CancelRequest`): a client that left the front door,
a deadline the door gave up on, an SDK caller's :meth:`cancel`. Nobody reads the answer, so the provider call is
stopped (its tokens stop costing) and the request ends ``cancelled``.

Every worker reads every cancel (they are few): the one serving the request cancels that work; any worker that
gets the request later (still queued in Kafka, or waiting for a retry round) finds the cancel remembered and ends
it without a call. Remembered cancels are bounded (count and age): a flood of cancels costs a fixed memory.

How the work is stopped: the serving task is cancelled and the cancel is then *uncancelled* at the scope's edge
(as :func:`asyncio.timeout` does), so a worker shutdown that cancels the same task at the same time still
propagates; only the requester's cancel becomes :class:`RequestCancelled`."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from schemas.errors import RequestCancelled

__all__ = ["Cancellations"]

#: cancels remembered for requests not (yet) served here
REMEMBER_MAX = 10_000
REMEMBER_S = 3600.0


class _Scope:
    def __init__(self, task: asyncio.Task[object]) -> None:
        self.task = task
        self.reason: str | None = None


class Cancellations:
    """Cancels by idempotency key (``tenant:request_id``): the ones in flight here and the ones remembered."""

    def __init__(
        self,
        *,
        remember_max: int = REMEMBER_MAX,
        remember_s: float = REMEMBER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._serving: dict[str, _Scope] = {}
        self._remembered: OrderedDict[str, tuple[float, str]] = OrderedDict()  # key -> (at, reason), oldest first
        self._max = remember_max
        self._ttl = remember_s
        self._clock = clock
        self.received = 0
        self.stopped = 0  # cancels that stopped work in flight here

    def cancel(self, key: str, reason: str) -> bool:
        """Record the cancel of ``key``; True when it stopped work in flight here."""
        self.received += 1
        self._remember(key, reason)
        scope = self._serving.get(key)
        if scope is None or scope.reason is not None or scope.task.done():
            return False
        scope.reason = reason
        scope.task.cancel(f"cancelled by its requester: {reason}")
        self.stopped += 1
        return True

    def cancelled(self, key: str) -> str | None:
        """The reason ``key`` was cancelled, if a cancel is remembered for it."""
        self._expire()
        found = self._remembered.get(key)
        return found[1] if found else None

    @asynccontextmanager
    async def cancellable(self, key: str) -> AsyncIterator[None]:
        """Run the body so that a cancel of ``key`` stops it with :class:`RequestCancelled` (a cancel remembered
        already stops it at once)."""
        reason = self.cancelled(key)
        if reason is not None:
            raise RequestCancelled(f"cancelled by its requester before it was served: {reason}")
        task = asyncio.current_task()
        assert task is not None
        scope = self._serving[key] = _Scope(task)
        try:
            yield
        except asyncio.CancelledError:
            if scope.reason is None or task.uncancel() > 0:
                raise  # not (only) the requester's cancel: a shutdown or a timeout of the caller
            raise RequestCancelled(f"cancelled by its requester while served: {scope.reason}") from None
        finally:
            if self._serving.get(key) is scope:
                del self._serving[key]

    def _remember(self, key: str, reason: str) -> None:
        self._remembered.pop(key, None)
        self._remembered[key] = (self._clock(), reason)
        while len(self._remembered) > self._max:
            self._remembered.popitem(last=False)

    def _expire(self) -> None:
        limit = self._clock() - self._ttl
        while self._remembered:
            key, (at, _) = next(iter(self._remembered.items()))
            if at > limit:
                return
            del self._remembered[key]

    def __len__(self) -> int:
        return len(self._remembered)

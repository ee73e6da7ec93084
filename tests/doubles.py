"""Small in-process stand-ins shared by unit and functional tests (never for Kafka or Redis behaviour)."""

from __future__ import annotations

import asyncio


class MemoryIdempotency:
    """An IdempotencyStore kept in a dict: what the pipeline remembered, for tests that read it back."""

    def __init__(self) -> None:
        self.done: dict[str, bytes] = {}

    async def get(self, key: str) -> bytes | None:
        return self.done.get(key)

    async def put(self, key: str, response: bytes) -> None:
        self.done[key] = response

    async def aclose(self) -> None:
        return None


async def ignore_cancellation(release: asyncio.Event) -> None:
    """A task that swallows every cancel until ``release`` is set: the worst case a bounded shutdown must survive."""
    while not release.is_set():
        try:
            await release.wait()
        except asyncio.CancelledError:
            continue

"""Shared-state round trips per served request: an answered claim is released once (``answered``), and the
``release`` the pipeline runs in its ``finally`` afterwards costs no second Redis call."""

from __future__ import annotations

from agents.request_claim import Owned, RequestClaims
from tests.doubles import MemoryIdempotency


class CountingStore(MemoryIdempotency):
    def __init__(self) -> None:
        super().__init__()
        self.releases = 0

    async def release(self, key: str, token: str) -> None:
        self.releases += 1
        await super().release(key, token)


async def test_release_after_answered_makes_no_second_call() -> None:
    store = CountingStore()
    claims = RequestClaims(store)
    owned = await claims.acquire("t:r1")
    assert isinstance(owned, Owned)
    await claims.answered(owned, b"answer")
    await claims.release(owned)  # the pipeline's finally
    assert store.releases == 1
    assert store.done["t:r1"] == b"answer"
    assert "t:r1" not in store.claims


async def test_release_without_answer_still_gives_the_claim_back() -> None:
    store = CountingStore()
    claims = RequestClaims(store)
    owned = await claims.acquire("t:r2")
    assert isinstance(owned, Owned)
    await claims.release(owned)
    assert store.releases == 1
    assert "t:r2" not in store.claims
    again = await claims.acquire("t:r2")
    assert isinstance(again, Owned) and again.checked

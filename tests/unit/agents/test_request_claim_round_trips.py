"""Shared-state round trips per served request: remembering the answer and dropping the claim is one store call
(``answer``: one Lua script in Redis; issue 18's worker profile had Redis at ~30 % of the worker, five round trips
per request), and the ``release`` the pipeline runs in its ``finally`` afterwards costs no second call."""

from __future__ import annotations

from agents.request_claim import Owned, RequestClaims
from infra.idempotency import Claim
from tests.doubles import MemoryIdempotency


class CountingStore(MemoryIdempotency):
    def __init__(self) -> None:
        super().__init__()
        self.releases = 0
        self.calls: list[str] = []

    async def claim(self, key: str, token: str, ttl_s: float) -> Claim:
        self.calls.append("claim")
        return await super().claim(key, token, ttl_s)

    async def put(self, key: str, response: bytes) -> None:
        self.calls.append("put")
        await super().put(key, response)

    async def answer(self, key: str, token: str, response: bytes) -> None:
        self.calls.append("answer")
        await super().answer(key, token, response)

    async def release(self, key: str, token: str) -> None:
        self.calls.append("release")
        self.releases += 1
        await super().release(key, token)


async def test_release_after_answered_makes_no_second_call() -> None:
    store = CountingStore()
    claims = RequestClaims(store)
    owned = await claims.acquire("t:r1")
    assert isinstance(owned, Owned)
    await claims.answered(owned, b"answer")
    await claims.release(owned)  # the pipeline's finally
    assert store.calls == ["claim", "answer"], "claim, then answer-and-release in one call"
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


async def test_an_unchecked_claim_still_remembers_the_answer() -> None:
    """Redis was down at claim time: the answer is still written when it is back; no claim to drop."""
    store = CountingStore()
    store.unavailable = True
    claims = RequestClaims(store)
    owned = await claims.acquire("t:r3")
    assert isinstance(owned, Owned) and not owned.checked
    store.unavailable = False
    await claims.answered(owned, b"late")
    await claims.release(owned)
    assert store.calls == ["claim", "put"]
    assert store.done["t:r3"] == b"late"

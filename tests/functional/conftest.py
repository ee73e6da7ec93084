import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from agents.ingress import Ingress, IngressPolicy
from infra.fake_provider.server import FakeProviderServer
from infra.signing_keys import Keyring
from schemas.wire import TopicNames


@pytest.fixture
async def fake_server() -> AsyncIterator[FakeProviderServer]:
    async with FakeProviderServer(seed=1) as server:
        yield server


async def set_faults(server: FakeProviderServer, backend: str, **plan: object) -> None:
    async with httpx.AsyncClient() as client:
        r = await client.put(f"{server.url}/admin/backends/{backend}/faults", json=plan)
        r.raise_for_status()


async def stats(server: FakeProviderServer, backend: str) -> dict[str, int]:
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{server.url}/admin/backends/{backend}")
        return dict(r.json()["stats"])


ROUTER_KEY = b"functional-tests-router-key-0123456789abcdef"


def trusted_ingress(topics: TopicNames, **reply_to_prefixes: tuple[str, ...]) -> Ingress:
    """The ingress of a single-tenant deployment (trusted producers, shared topics) with a test router key."""
    policy = IngressPolicy(signed=False, tenant_topics=False, reply_to_prefixes=reply_to_prefixes)
    return Ingress(policy, topics, Keyring(router=(ROUTER_KEY,)))


async def until_stat(server: FakeProviderServer, backend: str, name: str, value: int, timeout_s: float = 6.0) -> None:
    """Poll the fake provider until ``backend``'s ``name`` counter reads ``value`` (e.g. ``abandoned``: the
    provider saw its client go before the answer was whole)."""
    for _ in range(int(timeout_s / 0.02)):
        if (await stats(server, backend))[name] == value:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{backend}.{name} never reached {value}: {await stats(server, backend)}")

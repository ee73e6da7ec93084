from collections.abc import AsyncIterator

import httpx
import pytest

from infra.fake_provider.server import FakeProviderServer


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

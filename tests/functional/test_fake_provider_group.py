"""Several fake-provider processes behind one port (SO_REUSEPORT): what lets a benchmark's provider keep up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from benchmarks.harness import free_port
from streams.processes import start_fake_providers

LISTEN = "0A"


def _listeners(port: int) -> int:
    """Sockets listening on ``port`` (IPv4), from /proc/net/tcp: one per process sharing it."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        if int(local.split(":")[1], 16) == port and state == LISTEN:
            count += 1
    return count


async def test_processes_share_one_port_and_all_answer(tmp_path: Path) -> None:
    port = free_port()
    procs = await start_fake_providers(port, tmp_path, processes=2)
    try:
        assert all(p.alive() for p in procs)
        assert _listeners(port) == 2
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}

        async def fresh_connection_call(i: int) -> str:
            async with httpx.AsyncClient() as client:  # a new connection each: the kernel picks the process
                r = await client.post(f"http://127.0.0.1:{port}/b/g{i}/v1/chat/completions", json=body)
                r.raise_for_status()
                return str(r.json()["choices"][0]["message"]["content"])

        answers = await asyncio.gather(*(fresh_connection_call(i) for i in range(20)))
        assert answers == ["[m] answer to: hi"] * 20
    finally:
        for p in procs:
            p.stop()
    assert _listeners(port) == 0

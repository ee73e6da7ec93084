"""Library mode is Kafka-free: in a fresh interpreter, a router whose config names an unreachable Kafka serves a
request from the fake provider without loading faust or aiokafka."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from infra.fake_provider.server import FakeProviderServer

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, json, sys
from llm_router import ChatMessage, ChatRequest, Router
from schemas.config import RouterConfig

async def main() -> None:
    config = RouterConfig.model_validate(json.loads(sys.argv[1]))
    async with Router(config) as router:
        r = await router.complete(ChatRequest(messages=[ChatMessage(role="user", content="hello")]))
    loaded = sorted(m for m in ("faust", "aiokafka") if m in sys.modules)
    assert "faust" not in sys.modules, loaded
    print(json.dumps({"status": r.status, "backend": r.backend, "loaded": loaded}))

asyncio.run(main())
"""


async def test_library_mode_serves_a_request_without_loading_faust_or_aiokafka(
    fake_server: FakeProviderServer, tmp_path: Path
) -> None:
    config = {
        "kafka": {"bootstrap_servers": "127.0.0.1:9"},  # nothing listens there
        "redis": {"enabled": False},
        "cache": {"enabled": True, "semantic": False},
        "worker": {"metrics_port": 0},
        "health": {"healthy_probe_interval_s": 0},
        "default_model": "gpt-4o-mini",
        "backends": [{"name": "p", "base_url": fake_server.backend_url("p"), "models": ["gpt-4o-mini"]}],
    }
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    # the fake provider runs in this loop: the child must be awaited, not waited for in a blocking call
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SCRIPT,
        json.dumps(config),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(child.communicate(), timeout=120)
    assert child.returncode == 0, err.decode()[-3000:]
    result = json.loads(out.decode().splitlines()[-1])
    assert result == {"status": "ok", "backend": "p", "loaded": []}

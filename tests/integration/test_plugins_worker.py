"""The example plugin package (examples/plugins) end to end through a real worker on Kafka: installed as a
distribution (a dist-info directory on the worker's PYTHONPATH, found through importlib.metadata), its
round-robin strategy spreads a route over both backends, its redaction hook keeps an e-mail address from the
provider and the answer, its metrics hook adds a series to the worker's /metrics. A plugin that fails to import
stops the worker at start with one line naming it and its entry point."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest
import yaml

from schemas.events import ChatMessage, ChatRequest
from streams.processes import start_worker
from tests.integration.conftest import EnvFactory, free_port
from tests.integration.helpers import gather_responses
from tests.plugin_dist import install_plugin_dist

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugins"


def _pythonpath(site: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)}


async def test_the_example_plugins_run_in_a_worker(make_env: EnvFactory, tmp_path: Path) -> None:
    port = free_port()
    env = await make_env(
        backends=[("a", ["gpt-4o-mini"]), ("b", ["gpt-4o-mini"])],
        cache={"enabled": False},
        worker={"metrics_port": port},
    )
    a, b = env.backends
    data = yaml.safe_load(env.config_path.read_text())
    data["routes"] = [
        {
            "name": "main",
            "match": {"models": ["auto"]},
            "strategy": "round-robin",
            "targets": [{"model": "gpt-4o-mini", "backend": a}, {"model": "gpt-4o-mini", "backend": b}],
        }
    ]
    data["hooks"] = [{"name": "redact"}, {"name": "usage-metrics"}]
    env.config_path.write_text(yaml.safe_dump(data))
    site = install_plugin_dist(EXAMPLE, tmp_path / "site")
    env.workers.append(start_worker(env.config_path, tmp_path / "plugins.log", env=_pythonpath(site)))
    text = "mail ann@example.com please"
    async with env.client() as client:
        requests = [ChatRequest(model="auto", messages=[ChatMessage(role="user", content=text)]) for _ in range(10)]
        futures = [await client.submit(r) for r in requests]
        responses = await gather_responses(futures, 90, env.workers)
    assert all(r.status == "ok" for r in responses), [r.error for r in responses if r.error]
    assert {r.backend for r in responses} == {a, b}  # round-robin over the route's two targets
    assert all("ann@example.com" not in (r.content or "") and "[redacted]" in (r.content or "") for r in responses)
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
    assert 'llm_router_example_tokens_total{kind="prompt",model="gpt-4o-mini"}' in metrics


async def test_a_plugin_that_fails_to_import_stops_the_worker_naming_it(make_env: EnvFactory, tmp_path: Path) -> None:
    env = await make_env(cache={"enabled": False}, worker={"metrics_port": 0})
    data = yaml.safe_load(env.config_path.read_text())
    data["hooks"] = [{"name": "audit"}]
    env.config_path.write_text(yaml.safe_dump(data))
    site = tmp_path / "broken"
    dist = site / "broken_plugins-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[llm_router.hooks]\naudit = no_such_audit_module:Audit\n")
    worker = start_worker(env.config_path, tmp_path / "broken.log", env=_pythonpath(site))
    env.workers.append(worker)
    code = await asyncio.to_thread(worker.proc.wait, 60)
    log = worker.tail(20)
    assert code == 2, log
    assert "hook plugin 'audit' failed to import (entry point audit = no_such_audit_module:Audit" in log
    assert "Traceback" not in log

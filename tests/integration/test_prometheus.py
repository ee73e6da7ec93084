"""The router's metrics through a real Prometheus (Debian's package, started by infra/bin/prometheus-start.sh)
scraping a live worker on the real Kafka and Redis: after known traffic the router's series are there and the
dashboard's cache hit rate expression equals the expected fraction; promtool accepts the alert rules, the scrape
config and a live scrape; every dashboard and alert expression evaluates on the real server."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from schemas.events import ChatMessage, ChatRequest, Priority
from streams.consumer_lag import ConsumerLag
from tests.integration.conftest import EnvFactory, RouterEnv, free_port
from tests.unit.infra.test_metrics_observability import alert_expressions, dashboard_expressions

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "infra" / "observability"
START = ROOT / "infra" / "bin" / "prometheus-start.sh"
STOP = ROOT / "infra" / "bin" / "prometheus-stop.sh"


@pytest.fixture(scope="session")
def promtool() -> str:
    """Installs the prometheus package through the start script when missing (CI does it in infra/bin/test.sh);
    skips only when it cannot be installed here (no root, no package source)."""
    if shutil.which("promtool") is None or shutil.which("prometheus") is None:
        done = subprocess.run(["bash", str(START), "--install-only"], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.skip(f"prometheus cannot be installed here: {done.stderr[-500:]}")
    found = shutil.which("promtool")
    assert found is not None
    return found


@dataclass
class Prometheus:
    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        got = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = got.json()
        assert got.status_code == 200 and body["status"] == "success", (expr, body)
        return list(body["data"]["result"])

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr: str, ok: Any, timeout_s: float = 60) -> float | None:
        """Poll ``expr`` until ``ok(value)`` (scrapes come every second), returning the last value."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.value(expr)
            if value is not None and ok(value):
                return value
            if time.monotonic() > deadline:
                return value
            time.sleep(0.5)


def _start_prometheus(tmp_path: Path, targets: str) -> tuple[Prometheus, dict[str, str]]:
    """The repository's scrape config with a 1 s interval, its rule file beside it, the worker as the target."""
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    conf_dir = tmp_path / "prometheus"
    conf_dir.mkdir()
    (conf_dir / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(OBSERVABILITY / "alerts.yml", conf_dir / "alerts.yml")
    port = free_port()
    env = {**os.environ, "PROMETHEUS_PORT": str(port), "PROMETHEUS_TARGETS": targets}
    done = subprocess.run(
        ["bash", str(START), str(conf_dir / "prometheus.yml")], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return Prometheus(f"http://127.0.0.1:{port}"), env


@pytest.fixture
def prometheus_for(promtool: str, tmp_path: Path) -> Iterator[Any]:
    """``prometheus_for("host:port")`` starts a Prometheus scraping that worker; stopped after the test."""
    started: list[dict[str, str]] = []

    def start(targets: str) -> Prometheus:
        server, env = _start_prometheus(tmp_path, targets)
        started.append(env)
        return server

    yield start
    for env in started:
        subprocess.run(["bash", str(STOP)], env=env, capture_output=True, timeout=60, check=False)


def _req(text: str) -> ChatRequest:
    return ChatRequest(
        request_id=f"prom-{uuid.uuid4().hex[:10]}",
        priority=Priority.NORMAL,
        messages=[ChatMessage(role="user", content=text)],
    )


async def _worker(make_env: EnvFactory) -> tuple[RouterEnv, int]:
    port = free_port()
    env = await make_env(worker={"metrics_port": port, "metrics_host": "127.0.0.1"}, cache={"semantic": False})
    env.start_worker()
    return env, port


async def _traffic(env: RouterEnv) -> None:
    """6 distinct prompts, then 4 of them again: 10 lookups, 4 exact hits (sequential: each answer is stored
    before its repeat is asked)."""
    tag = uuid.uuid4().hex[:6]
    prompts = [f"prometheus question {tag} number {i}" for i in range(6)]
    async with env.client() as client:
        for text in prompts + prompts[:4]:
            response = await client.complete(_req(text), timeout_s=90)
            assert response.status == "ok", response.error


async def test_prometheus_scrapes_the_router_series_and_the_cache_hit_rate_is_exact(
    make_env: EnvFactory, prometheus_for: Any
) -> None:
    env, port = await _worker(make_env)
    prom = await asyncio.to_thread(prometheus_for, f"127.0.0.1:{port}")
    lookups = 'sum(llm_router_cache_lookups_total{job="llm-router-workers"})'
    # a scrape before the traffic: the counters start from 0 in Prometheus too (rate() extrapolates alike)
    assert await asyncio.to_thread(prom.wait_for, lookups, lambda v: v == 0) == 0
    await _traffic(env)
    assert await asyncio.to_thread(prom.wait_for, lookups, lambda v: v >= 10) == 10
    hits = 'sum(llm_router_cache_lookups_total{result=~"exact_hit|semantic_hit"})'
    assert await asyncio.to_thread(prom.value, f"{hits} / {lookups}") == pytest.approx(0.4)
    # the dashboard's own expression, over a window that holds all the traffic
    (dashboard_hit_rate,) = [e for e in dashboard_expressions() if "exact_hit|semantic_hit" in e]
    rate = await asyncio.to_thread(prom.value, dashboard_hit_rate.replace("$__rate_interval", "5m"))
    assert rate == pytest.approx(0.4, abs=1e-6)
    served = f'llm_router_provider_request_duration_seconds_count{{backend="{env.backend}",outcome="ok"}}'
    assert await asyncio.to_thread(prom.value, served) == 6
    ok = 'sum(llm_router_request_duration_seconds_count{priority="normal",outcome="ok"})'
    assert await asyncio.to_thread(prom.value, ok) == 6
    cached = 'sum(llm_router_requests_total{priority="normal",outcome="cached",code="none"})'
    assert await asyncio.to_thread(prom.value, cached) == 4
    closed = f'llm_router_backend_circuit_state{{backend="{env.backend}",state="closed"}}'
    assert await asyncio.to_thread(prom.value, closed) == 1
    assert await asyncio.to_thread(prom.value, "count(llm_router_config_info == 1)") == 1
    # the request topics' lag, from the broker's end offsets: every record committed once served
    lag = f'max(llm_router_consumer_lag{{topic="{env.topics.requests("normal")}"}})'
    assert await asyncio.to_thread(prom.wait_for, lag, lambda v: v == 0, 60) == 0
    partitions = await asyncio.to_thread(
        prom.query, f'llm_router_consumer_lag{{topic=~"{env.config.kafka.topic_prefix}.*"}}'
    )
    assert len(partitions) == sum(env.config.kafka.request_partitions.values())


async def test_every_dashboard_and_alert_expression_evaluates_on_prometheus(
    make_env: EnvFactory, prometheus_for: Any
) -> None:
    env, port = await _worker(make_env)
    prom = await asyncio.to_thread(prometheus_for, f"127.0.0.1:{port}")
    await _traffic(env)
    await asyncio.to_thread(prom.wait_for, "sum(llm_router_requests_total)", lambda v: v >= 10)
    for expr in dashboard_expressions() + alert_expressions():
        await asyncio.to_thread(prom.query, expr.replace("$__rate_interval", "1m"))  # asserts status success
    async with httpx.AsyncClient() as http:
        rules = (await http.get(f"{prom.url}/api/v1/rules", timeout=10)).json()["data"]["groups"]
    loaded = {rule["name"] for group in rules for rule in group["rules"]}
    expected = {
        r["alert"] for g in yaml.safe_load((OBSERVABILITY / "alerts.yml").read_text())["groups"] for r in g["rules"]
    }
    assert loaded == expected


async def test_promtool_accepts_a_live_scrape_of_a_worker(make_env: EnvFactory, promtool: str) -> None:
    env, port = await _worker(make_env)
    await _traffic(env)
    async with httpx.AsyncClient() as http:
        scrape = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=10)).text
    assert "llm_router_request_duration_seconds_bucket" in scrape
    check = await asyncio.create_subprocess_exec(
        promtool, "check", "metrics", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await check.communicate(scrape.encode())
    assert check.returncode == 0, out.decode()


def test_promtool_accepts_the_alert_rules_and_the_scrape_config(promtool: str) -> None:
    rules = subprocess.run(
        [promtool, "check", "rules", str(OBSERVABILITY / "alerts.yml")], capture_output=True, text=True, timeout=60
    )
    assert rules.returncode == 0 and "SUCCESS" in rules.stdout, rules.stdout + rules.stderr
    config = subprocess.run(
        [promtool, "check", "config", str(OBSERVABILITY / "prometheus.yml")], capture_output=True, text=True, timeout=60
    )
    assert config.returncode == 0, config.stdout + config.stderr
    targets = json.loads((OBSERVABILITY / "targets" / "workers.json").read_text())
    assert targets[0]["targets"], targets


async def test_consumer_lag_counts_records_the_group_has_not_committed(make_env: EnvFactory) -> None:
    """No worker: every record produced is lag, from the partition's beginning (the group never committed)."""
    env = await make_env()
    async with env.client() as client:
        for i in range(5):
            await client.submit(_req(f"lag {i}"))
    lag = ConsumerLag(env.config.kafka, env.topics.all_requests)
    try:
        deadline = time.monotonic() + 30
        while True:
            await lag.refresh()
            snapshot = lag.snapshot()
            if sum(snapshot.values()) >= 5 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        await lag.aclose()
    normal = {p: n for (topic, p), n in snapshot.items() if topic == env.topics.requests("normal")}
    assert sum(normal.values()) == 5
    assert len(snapshot) == sum(env.config.kafka.request_partitions.values())

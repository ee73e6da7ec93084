"""The operations console in a real browser (Playwright driving Debian's Chromium, headless) against the real
Kafka, Redis, a worker process and the fake provider: live data on the page, an outage seen within a probe
interval, a dead letter replayed from the page and answered on Kafka, and a viewer without a replay button.
Screenshots are kept in the test's tmp directory; one with live data becomes docs/console.png."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from infra.api_keys import hash_key
from schemas.events import ChatMessage, ChatRequest, ChatResponse, DeadLetter
from streams.processes import ManagedProcess
from tests.integration.conftest import EnvFactory, RouterEnv, free_port
from tests.integration.helpers import read_topic

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
ADMIN_KEY = "sk-console-admin-" + uuid.uuid4().hex
VIEWER_KEY = "sk-console-viewer-" + uuid.uuid4().hex
PROBE_INTERVAL_S = 2.0
REFRESH_S = 0.5
README_SHOT = Path(__file__).resolve().parents[2] / "docs" / "console.png"


@dataclass
class Console:
    env: RouterEnv
    url: str
    proc: ManagedProcess
    shots: Path

    async def shot(self, page: Page, name: str) -> Path:
        path = self.shots / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"{what} not within {timeout_s}s"
        await asyncio.sleep(0.1)


async def _start_console(env: RouterEnv, shots: Path) -> Console:
    port = free_port()
    args = [sys.executable, "-m", "streams.cli", "console", "--config", str(env.config_path)]
    proc = ManagedProcess("console", [*args, "--listen", f"127.0.0.1:{port}"], env.log_dir / "console.log")
    url = f"http://127.0.0.1:{port}"

    async def up() -> bool:
        assert proc.alive(), f"the console exited:\n{proc.tail()}"
        try:
            async with httpx.AsyncClient() as http:
                return (await http.get(f"{url}/healthz", timeout=1)).status_code == 200
        except httpx.HTTPError:
            return False

    await _until(up, 60, "the console listening")
    return Console(env, url, proc, shots)


@pytest.fixture
async def console(make_env: EnvFactory, tmp_path: Path) -> AsyncIterator[Console]:
    env = await make_env(
        worker={"metrics_port": free_port()},
        health={
            "probe_interval_s": PROBE_INTERVAL_S,
            "healthy_probe_interval_s": PROBE_INTERVAL_S,
            "shared_refresh_s": 0.2,  # the worker's health loop looks for due probes this often
            "breaker": {"consecutive_failures": 1},
        },
        tenants={"acme": {}, "globex": {}},
        console={
            "keys": [
                {"name": "ops", "sha256": hash_key(ADMIN_KEY), "role": "admin"},
                {"name": "look", "sha256": hash_key(VIEWER_KEY), "role": "viewer"},
            ],
            "refresh_s": REFRESH_S,
        },
    )
    shots = tmp_path / "screenshots"
    shots.mkdir()
    running = await _start_console(env, shots)
    yield running
    running.proc.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        await chromium.close()


async def _signed_in(browser: Browser, console: Console, key: str) -> Page:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    await page.goto(console.url + "/")
    await expect(page.locator("#sign-in")).to_be_visible()  # no key yet: the login form
    await page.fill("#key", key)
    await page.click("#sign-in")
    await expect(page.locator("#live")).to_contain_text("live", timeout=15_000)
    return page


def _ask(i: int, model: str, tag: str, tenant: str = "default") -> ChatRequest:
    content = f"console {tag} question {i}"
    return ChatRequest(
        request_id=f"{tag}-{uuid.uuid4().hex[:8]}",
        model=model,
        tenant=tenant,
        messages=[ChatMessage(role="user", content=content)],
    )


async def _traffic(env: RouterEnv, n: int) -> list[ChatResponse]:
    """``n`` answers over two tenants and two models, with the provider's latency varying, and one request for a
    model nothing serves (a failure and a dead letter)."""
    env.fake.set_faults(env.backend, latency_ms=200, latency_jitter_ms=120)
    async with env.client() as client:
        answers = []
        for i in range(n):
            ask = _ask(i, ("gpt-4o-mini", "gpt-4o")[i % 2], "live", tenant=("acme", "globex")[i % 3 % 2])
            answers.append(await client.complete(ask, timeout_s=120))
        answers.append(await client.complete(_ask(0, "no-such-model", "nowhere"), timeout_s=60))
    return answers


async def test_the_page_shows_live_data_from_a_running_worker(browser: Browser, console: Console) -> None:
    env = console.env
    env.start_worker()
    page = await _signed_in(browser, console, ADMIN_KEY)
    answers = await _traffic(env, 16)
    assert [a.status for a in answers] == ["ok"] * 16 + ["error"]
    row = page.locator(f'#backends tr[data-backend="{env.backend}"]')
    await expect(row).to_have_attribute("data-state", "healthy", timeout=30_000)
    version = answers[0].routing.config_version if answers[0].routing else None
    await expect(page.locator("#workers td.version").first).to_have_text(version or "(no version)")
    await expect(page.locator("#cost tbody tr")).to_have_count(4, timeout=15_000)  # 2 tenants x 2 models
    await expect(page.locator("#cost tbody")).to_contain_text("acme")
    await expect(page.locator("#failures tbody tr").first).to_contain_text("no_route", timeout=15_000)
    await expect(page.locator("#dead-letters tbody tr").first).to_contain_text("no_route", timeout=20_000)
    await expect(page.locator('#queues tr[data-priority="normal"]')).to_be_visible()

    async def charted() -> bool:  # the latency chart has a line, not one point
        path = await row.locator("svg.latency path").get_attribute("d", timeout=1000)
        return path is not None and path.count("L") >= 4

    await _until(charted, 30, "a latency line on the chart")
    shot = await console.shot(page, "live")
    shutil.copyfile(shot, README_SHOT)


async def test_a_backend_outage_shows_within_one_probe_interval(browser: Browser, console: Console) -> None:
    env = console.env
    env.start_worker()
    page = await _signed_in(browser, console, VIEWER_KEY)
    row = page.locator(f'#backends tr[data-backend="{env.backend}"]')
    await expect(row).to_have_attribute("data-state", "healthy", timeout=60_000)
    env.fake.set_faults(env.backend, outage=True)
    injected = time.monotonic()
    try:
        # one probe interval until the next probe fails, one refresh until the page has it, and a second of
        # delivery (Kafka, the event stream, the browser's rendering)
        await expect(row).to_have_attribute("data-state", "down", timeout=(PROBE_INTERVAL_S + REFRESH_S + 1) * 1000)
        seen_after_s = time.monotonic() - injected
        await expect(row.locator("td.circuit")).to_have_text("open")
        await console.shot(page, "outage")
    finally:
        env.fake.set_faults(env.backend)
    print(f"outage on the page {seen_after_s:.2f}s after it was injected (probe interval {PROBE_INTERVAL_S}s)")
    assert seen_after_s <= PROBE_INTERVAL_S + REFRESH_S + 1


async def test_replaying_a_dead_letter_from_the_page_produces_a_response(browser: Browser, console: Console) -> None:
    env = console.env
    env.start_worker()
    async with env.client() as client:
        lost = _ask(0, "no-such-model", "replayme")
        assert (await client.complete(lost, timeout_s=120)).status == "error"
    bootstrap = env.config.kafka.bootstrap_servers
    await read_topic(bootstrap, env.topics.deadletter, DeadLetter, min_count=1, timeout_s=30)
    page = await _signed_in(browser, console, ADMIN_KEY)
    await page.select_option("#dlq-reason", "no_route")
    await page.click("#dlq-apply")
    await expect(page.locator("#dead-letters tbody tr")).to_have_count(1, timeout=20_000)
    await page.fill("#replay-to-model", "gpt-4o-mini")
    await page.click("#replay-dry-run")
    result = page.locator("#replay-result")
    await expect(result).to_contain_text("would replay 1", timeout=30_000)
    await console.shot(page, "replay-dry-run")
    await page.click("#replay-confirm")
    await expect(result).to_contain_text("replayed 1", timeout=30_000)
    await expect(result).to_have_attribute("data-outcome", "replayed")

    async def answered() -> bool:
        responses = await read_topic(bootstrap, env.topics.responses, ChatResponse, timeout_s=2)
        return any(r.request_id == lost.request_id and r.status == "ok" for r in responses)

    await _until(answered, 120, "the replayed request's answer on the responses topic")
    await console.shot(page, "replayed")


async def test_a_viewer_sees_no_replay_button_and_the_endpoint_refuses(browser: Browser, console: Console) -> None:
    page = await _signed_in(browser, console, VIEWER_KEY)
    await expect(page.locator("#role")).to_have_text("viewer")
    await expect(page.locator("#dlq-filter")).to_be_visible()
    assert await page.locator("#replay-dry-run").count() == 0
    assert await page.locator("#replay-confirm").count() == 0
    refused = await page.request.post(console.url + "/api/replay", data={"filter": {"reason": "no_route"}})
    assert refused.status == 403  # the cookie's viewer key, not just a hidden button
    await console.shot(page, "viewer")
    async with httpx.AsyncClient() as http:
        assert (await http.post(console.url + "/api/replay", json={})).status_code == 401
        bearer = {"authorization": f"Bearer {VIEWER_KEY}"}
        assert (await http.post(console.url + "/api/replay", json={}, headers=bearer)).status_code == 403

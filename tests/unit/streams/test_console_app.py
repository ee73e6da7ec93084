"""The console's HTTP surface without Kafka: who gets the page, the login cookie, and who may replay.
The service is a stand-in that records replays; Kafka, the workers and the replay itself are the browser test's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from infra.api_keys import hash_key
from schemas.config import ConsoleKey, ConsoleRole, ConsoleSettings
from streams.console.app import ConsoleApp
from streams.console.auth import ConsoleAuth
from streams.console.dlq_view import ReplayAsk

ADMIN, VIEWER = "sk-console-admin-0001", "sk-console-viewer-0001"


@dataclass
class StandIn:
    settings: ConsoleSettings = field(default_factory=ConsoleSettings)
    replays: list[ReplayAsk] = field(default_factory=list)
    auth: ConsoleAuth = field(
        default_factory=lambda: ConsoleAuth(
            [
                ConsoleKey(name="ops", sha256=hash_key(ADMIN), role=ConsoleRole.ADMIN),
                ConsoleKey(name="look", sha256=hash_key(VIEWER), role=ConsoleRole.VIEWER),
            ]
        )
    )

    def snapshot(self) -> dict[str, object]:
        return {"backends": []}

    async def dead_letters(self, flt: Any) -> dict[str, object]:
        return {"total": 0, "by_reason": {}, "rows": [], "tenant": flt.tenant}

    async def replay(self, ask: ReplayAsk) -> dict[str, object]:
        self.replays.append(ask)
        return {"dry_run": ask.dry_run}


def _client(service: StandIn, key: str | None = None) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    transport = httpx.ASGITransport(app=ConsoleApp(service))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://console", headers=headers)


async def test_no_key_gets_the_login_page_and_the_api_a_401() -> None:
    async with _client(StandIn()) as http:
        page = await http.get("/")
        assert page.status_code == 401 and 'action="/login"' in page.text
        assert (await http.get("/api/snapshot")).status_code == 401
        assert (await http.get("/api/events")).status_code == 401
    async with _client(StandIn(), "sk-wrong") as http:
        assert (await http.get("/api/snapshot")).status_code == 401


async def test_a_login_sets_an_http_only_cookie_that_opens_the_page() -> None:
    async with _client(StandIn()) as http:
        wrong = await http.post("/login", data={"key": "sk-wrong"})
        assert wrong.status_code == 401 and "not a console key" in wrong.text
        ok = await http.post("/login", data={"key": ADMIN})
        assert ok.status_code == 303 and "HttpOnly" in ok.headers["set-cookie"]
        page = await http.get("/")
        assert page.status_code == 200 and 'id="replay-dry-run"' in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]


async def test_a_viewer_sees_the_page_without_replay_and_the_endpoint_refuses() -> None:
    service = StandIn()
    async with _client(service, VIEWER) as http:
        page = await http.get("/")
        assert page.status_code == 200 and 'data-role="viewer"' in page.text and "replay-dry-run" not in page.text
        refused = await http.post("/api/replay", json={"filter": {"reason": "no_route"}, "dry_run": True})
        assert refused.status_code == 403
        letters = await http.get("/api/dead-letters", params={"tenant": "acme"})
        assert letters.json()["tenant"] == "acme"
    assert service.replays == []


async def test_an_admin_replays_and_a_bad_request_is_a_400() -> None:
    service = StandIn()
    async with _client(service, ADMIN) as http:
        ok = await http.post("/api/replay", json={"filter": {"reason": "no_route"}, "to_model": "gpt-4o"})
        assert ok.status_code == 200 and ok.json() == {"dry_run": True}
        bogus = await http.post("/api/replay", json={"filter": {"reason": "bogus"}})
        assert bogus.status_code == 400 and "unknown reason bogus" in bogus.json()["error"]
        unfiltered = await http.post("/api/replay", json={"dry_run": False})
        assert unfiltered.status_code == 400 and "--all" in unfiltered.json()["error"]
        assert (await http.post("/api/replay", content=b"{not json")).status_code == 400
    assert [a.to_model for a in service.replays] == ["gpt-4o"]


async def test_static_files_are_served_and_nothing_outside_their_folder() -> None:
    async with _client(StandIn()) as http:
        js = await http.get("/static/console.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        assert (await http.get("/static/..%2Fauth.py")).status_code == 404
        assert (await http.get("/static/login.html")).status_code == 404  # pages are rendered, not served raw

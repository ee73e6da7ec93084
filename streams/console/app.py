"""The console as a raw ASGI application (as the front door): a login form, one page, its static files, a JSON
API and a stream of server-sent events. Every page and API call needs a key; only an admin's may replay."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from schemas.config import ConsoleKey
from schemas.errors import ConfigError
from streams.asgi_body import read_body
from streams.console.auth import ConsoleAuth, clear_cookie, session_cookie
from streams.console.dlq_view import ReplayAsk, filter_from_query
from streams.console.pages import Reply, console_page, login_page, static_file
from streams.console.service import ConsoleService

__all__ = ["ConsoleApp"]

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
_MAX_BODY = 64 * 1024


def _json(status: int, data: object) -> Reply:
    return Reply(status, json.dumps(data).encode(), b"application/json", [(b"cache-control", b"no-store")])


def _query(scope: Scope) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}


class ConsoleApp:
    def __init__(self, service: ConsoleService) -> None:
        self.service = service
        self.auth: ConsoleAuth = service.auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        key = self.auth.identify(headers)
        if scope["path"] == "/api/events" and key is not None:
            await self._events(send, receive)
            return
        try:
            reply = await self._route(scope, receive, key)
        except ConfigError as exc:
            reply = _json(400, {"error": str(exc)})
        except Exception:
            log.exception("console: unexpected error on %s %s", scope["method"], scope["path"])
            reply = _json(500, {"error": "internal error (see the console's log)"})
        await _send(send, reply)

    async def _route(self, scope: Scope, receive: Receive, key: ConsoleKey | None) -> Reply:
        method, path = scope["method"], scope["path"]
        if path.startswith("/static/") and method == "GET":
            return static_file(path.removeprefix("/static/")) or _json(404, {"error": "no such file"})
        if path == "/healthz":
            return _json(200, {"status": "ok"})
        if path == "/login":
            return await self._login(receive) if method == "POST" else login_page(200)
        if path == "/logout" and method == "POST":
            return Reply.redirect("/login", (b"set-cookie", clear_cookie()))
        if key is None:
            return _json(401, {"error": "a console key is needed"}) if path.startswith("/api/") else login_page(401)
        return await self._authorised(scope, receive, key)

    async def _authorised(self, scope: Scope, receive: Receive, key: ConsoleKey) -> Reply:
        method, path, role = scope["method"], scope["path"], key.role
        if path == "/" and method == "GET":
            return console_page(role, self.service.settings.refresh_s)
        if path == "/api/snapshot" and method == "GET":
            return _json(200, {**self.service.snapshot(), "role": role.value})
        if path == "/api/dead-letters" and method == "GET":
            return _json(200, await self.service.dead_letters(filter_from_query(_query(scope))))
        if path == "/api/replay" and method == "POST":
            return await self._replay(receive, key)
        return _json(404, {"error": f"no such endpoint: {method} {path}"})

    async def _replay(self, receive: Receive, key: ConsoleKey) -> Reply:
        if not ConsoleAuth.may_replay(key.role):
            log.warning("console: replay refused to key %s (role %s)", key.name, key.role.value)
            return _json(403, {"error": "replay needs an admin key"})
        try:
            ask = ReplayAsk.from_json(json.loads(await _body(receive) or b"{}"))
        except ValueError:
            return _json(400, {"error": "the body is not JSON"})
        ask.check()  # before any work: an unfiltered replay needs "all"
        result = await self.service.replay(ask)
        log.info(
            "console: %s by key %s: %s matched, %s %s (to model %s)",
            "replay dry run" if ask.dry_run else "replay",
            key.name,
            result.get("matched"),
            result.get("replayed"),
            "would be replayed" if ask.dry_run else "replayed",
            ask.to_model or "unchanged",
        )
        return _json(200, result)

    async def _login(self, receive: Receive) -> Reply:
        form = parse_qs((await _body(receive)).decode("utf-8", "replace"))
        key = (form.get("key") or [""])[-1].strip()
        if self.auth.role_of_key(key) is None:
            return login_page(401, "That key is not a console key.")
        return Reply.redirect("/", (b"set-cookie", session_cookie(key)))

    async def _events(self, send: Send, receive: Receive) -> None:
        """A snapshot every refresh until the browser goes away (``EventSource`` reconnects by itself)."""
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

        async def pump() -> None:
            while True:
                data = json.dumps(self.service.snapshot())
                await send({"type": "http.response.body", "body": f"data: {data}\n\n".encode(), "more_body": True})
                await asyncio.sleep(self.service.settings.refresh_s)

        async def gone() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        tasks = [asyncio.ensure_future(pump()), asyncio.ensure_future(gone())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task


async def _body(receive: Receive) -> bytes:
    return await read_body(receive, _MAX_BODY, lambda: ConfigError(f"request body over {_MAX_BODY} bytes"))


async def _send(send: Send, reply: Reply) -> None:
    headers = [(b"content-type", reply.content_type), (b"content-length", str(len(reply.body)).encode())]
    await send({"type": "http.response.start", "status": reply.status, "headers": [*headers, *reply.headers]})
    await send({"type": "http.response.body", "body": reply.body})

"""The door as a raw ASGI application: five endpoints do not need a framework, and every layer between uvicorn and
the door is per-request latency and memory at thousands of connections. Streaming (server-sent events) will send
``http.response.body`` chunks with ``more_body`` from here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from infra.log_context import request_scope
from schemas.openai_api import ApiError, ApiErrorType, DoorCode
from streams.asgi_body import read_body
from streams.frontdoor.door import FrontDoor, Reply

__all__ = ["DoorApp"]

log = logging.getLogger(__name__)
#: one line per HTTP request (method, path, status, latency; request id and tenant once known; never the key nor
#: the body): ``logging.levels: {llm_router.access: warning}`` silences them
ACCESS_LOGGER = "llm_router.access"
_access = logging.getLogger(ACCESS_LOGGER)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Handler = Callable[[dict[str, str], bytes], Awaitable[Reply]]


class DoorApp:
    """Routes HTTP requests to the :class:`FrontDoor`; any :class:`ApiError` becomes its OpenAI-style body."""

    def __init__(self, door: FrontDoor, *, max_body_bytes: int | None = None) -> None:
        self.door = door
        self.max_body_bytes = max_body_bytes or door.config.frontdoor.max_body_bytes
        self._routes: dict[str, tuple[str, Handler]] = {
            "/v1/chat/completions": ("POST", door.chat),
            "/v1/models": ("GET", self._models),
            "/healthz": ("GET", self._healthz),
            "/readyz": ("GET", self._readyz),
            "/metrics": ("GET", self._metrics),
        }

    async def _models(self, headers: dict[str, str], body: bytes) -> Reply:
        return self.door.models(headers)

    async def _healthz(self, headers: dict[str, str], body: bytes) -> Reply:
        return Reply.json(200, {"status": "ok"})

    async def _readyz(self, headers: dict[str, str], body: bytes) -> Reply:
        return await self.door.readyz()

    async def _metrics(self, headers: dict[str, str], body: bytes) -> Reply:
        return self.door.metrics_text()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan: the door is started and stopped by `serve` itself
            return
        with request_scope():  # the ids the door binds (request id, tenant) are on this request's lines, then gone
            await self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        metrics = self.door.metrics
        metrics.in_flight.inc()
        try:
            reply = await self._handle(scope, receive)
            if reply.events is not None:
                await _send_events(send, receive, reply)
        finally:
            metrics.in_flight.dec()
        if reply.events is None:
            await _send(send, reply)
        elapsed = time.perf_counter() - started
        metrics.observe(scope["path"], reply.status, elapsed)
        _access_line(scope, reply.status, elapsed)

    async def _handle(self, scope: Scope, receive: Receive) -> Reply:
        try:
            return await self._dispatch(scope, receive)
        except ApiError as exc:
            return Reply.error(exc)
        except Exception:
            log.exception("front door: unexpected error on %s %s", scope["method"], scope["path"])
            return Reply.error(ApiError(500, ApiErrorType.SERVER, DoorCode.UNAVAILABLE, "internal error"))

    async def _dispatch(self, scope: Scope, receive: Receive) -> Reply:
        route = self._routes.get(scope["path"].rstrip("/") or "/")
        if route is None:
            raise ApiError(404, ApiErrorType.NOT_FOUND, DoorCode.UNKNOWN_PATH, f"no such endpoint: {scope['path']}")
        method, handler = route
        if scope["method"] != method:
            raise ApiError(
                405, ApiErrorType.INVALID_REQUEST, DoorCode.METHOD_NOT_ALLOWED, f"use {method} {scope['path']}"
            )
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if method != "POST":
            return await handler(headers, b"")
        body = await self._body(receive)
        return await _unless_disconnected(handler(headers, body), receive)

    async def _body(self, receive: Receive) -> bytes:
        return await read_body(
            receive,
            self.max_body_bytes,
            lambda: ApiError(
                413,
                ApiErrorType.INVALID_REQUEST,
                DoorCode.BODY_TOO_LARGE,
                f"request body over {self.max_body_bytes} bytes",
            ),
        )


async def _send(send: Send, reply: Reply) -> None:
    headers = [
        (b"content-type", reply.content_type),
        (b"content-length", str(len(reply.body)).encode()),
        *reply.headers,
    ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


async def _send_events(send: Send, receive: Receive, reply: Reply) -> None:
    """Each event as it comes; a client that disconnects ends the stream (closing the events' generator,
    which stops the engine's call)."""
    assert reply.events is not None
    events = reply.events
    headers = [(b"content-type", reply.content_type), *reply.headers]

    async def pump() -> None:
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        async for piece in events:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    pumping = asyncio.ensure_future(pump())
    watching = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait([pumping, watching], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pumping, watching):
            task.cancel()
        with contextlib.suppress(BaseException):
            await pumping
        with contextlib.suppress(BaseException):
            await watching
        await events.aclose()  # type: ignore[attr-defined]


async def _unless_disconnected(handling: Awaitable[Reply], receive: Receive) -> Reply:
    """``handling``'s reply, unless the client disconnects first: then the handler is cancelled (which withdraws
    its request from the workers, see :class:`KafkaEngine`) and a 499 is recorded, never sent. The handler runs
    in this task (the ids it binds reach the access line); the watch cancels this task and the cancel is taken
    back here, as :func:`asyncio.timeout` does, so a server shutdown still propagates."""
    current = asyncio.current_task()
    assert current is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            pass
        gone = True
        current.cancel()

    watching = asyncio.ensure_future(watch())
    try:
        return await handling
    except asyncio.CancelledError:
        if not gone or current.uncancel() > 0:
            raise
        return Reply.error(ApiError(499, ApiErrorType.INVALID_REQUEST, DoorCode.CLIENT_CLOSED, "client disconnected"))
    finally:
        watching.cancel()  # not awaited: nothing may suspend this task once the reply is known


def _access_line(scope: Scope, status: int, elapsed_s: float) -> None:
    if _access.isEnabledFor(logging.INFO):
        fields = {"method": scope["method"], "path": scope["path"], "status": status}
        _access.info("http request", extra={**fields, "latency_ms": round(elapsed_s * 1000, 3)})

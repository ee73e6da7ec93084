"""The front door's decisions per HTTP request, independent of the HTTP server: who is asking (API key), what they
may ask for, the request event it becomes, and the answer in OpenAI's format. Everything behind it (routing,
cache, retries, failover) stays in the engine. The ASGI layer (:mod:`streams.frontdoor.asgi`) only moves bytes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from agents.api_access import ApiAccess
from infra.api_keys import KeyBook, bearer_token
from infra.log_context import bind
from infra.rate_limits import LimitUse, LocalRateLimiter, RateLimiter
from schemas.config import ApiKey, RouterConfig
from schemas.events import ChatChunk, ChatRequest, ChatResponse, new_id, utcnow
from schemas.openai_api import (
    ApiError,
    ApiErrorType,
    DoorCode,
    error_of_response,
    parse_chat_body,
    to_chat_request,
    to_completion,
)
from schemas.openai_stream import DONE, chunk_of, closing_chunks, sse
from streams.frontdoor.engines import IDEMPOTENT_PREFIX, Engine
from streams.frontdoor.metrics import DoorMetrics

__all__ = ["FrontDoor", "RedisProbe", "Reply", "request_id_for"]

log = logging.getLogger(__name__)
#: the door waits this much longer than the request's deadline, so the router's own deadline_expired answer
#: (with its attempts) normally arrives before the door gives up
DEADLINE_GRACE_S = 1.0
JSON = b"application/json"


@dataclass
class Reply:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    content_type: bytes = JSON
    #: a streamed body (server-sent events): sent piece by piece after the headers, ``body`` is not used
    events: AsyncIterator[bytes] | None = None

    @classmethod
    def json(cls, status: int, data: Any, headers: list[tuple[bytes, bytes]] | None = None) -> Reply:
        return cls(status, json.dumps(data, separators=(",", ":")).encode(), headers or [])

    @classmethod
    def error(cls, exc: ApiError) -> Reply:
        headers = []
        if exc.retry_after_s is not None:
            headers.append((b"retry-after", str(max(1, int(exc.retry_after_s + 0.999))).encode()))
        return cls.json(exc.status, exc.body(), headers)


def request_id_for(tenant: str, idempotency_key: str | None, body: bytes = b"") -> str:
    """A fresh id, or one derived from the client's Idempotency-Key, its tenant and the request body (canonical
    JSON): the same key and body give the same request (the router answers it once); two tenants' equal keys never
    name the same request, and a key reused with another body is another request, never the first one's answer."""
    if not idempotency_key:
        return new_id()
    digest = hashlib.sha256(f"{tenant}\n{idempotency_key}\n".encode())
    digest.update(json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":")).encode())
    return IDEMPOTENT_PREFIX + digest.hexdigest()[:40]


def _unauthorized() -> ApiError:
    return ApiError(
        401,
        ApiErrorType.AUTHENTICATION,
        DoorCode.INVALID_API_KEY,
        "missing or unknown API key (send Authorization: Bearer <key>)",
    )


class FrontDoor:
    """Authenticates, maps and forwards chat completions to ``engine``; serves the models list and probes."""

    def __init__(
        self,
        config: RouterConfig,
        engine: Engine,
        *,
        keys: KeyBook,
        metrics: DoorMetrics | None = None,
        limiter: RateLimiter | None = None,
        redis_probe: RedisProbe | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.keys = keys
        self.access = ApiAccess(config)
        self.metrics = metrics or DoorMetrics()
        self._limiter = limiter or LocalRateLimiter()
        self._redis_probe = redis_probe

    async def start(self) -> None:
        await self.engine.start()

    async def aclose(self) -> None:
        await self.engine.aclose()
        await self._limiter.aclose()
        if self._redis_probe is not None:
            await self._redis_probe.aclose()

    def authenticate(self, headers: Mapping[str, str]) -> ApiKey:
        key = self.keys.find(bearer_token(headers.get("authorization")))
        if key is None:
            raise _unauthorized()
        bind(tenant=key.tenant)  # on the request's log lines (the access line); never the key itself
        return key

    async def chat(self, headers: Mapping[str, str], body: bytes) -> Reply:
        """``POST /v1/chat/completions``."""
        key = self.authenticate(headers)
        request = await self._admit(key, headers, body)
        bind(request_id=request.request_id)
        if request.stream:
            return await self._stream(key, request, _include_usage(body))
        response = await self.engine.complete(request, self.config.frontdoor.timeout_s + DEADLINE_GRACE_S)
        self.metrics.completions.labels(key.name, response.status).inc()
        return self._answer(response)

    async def _admit(self, key: ApiKey, headers: Mapping[str, str], body: bytes) -> ChatRequest:
        """The request event, once the body is valid and the key may ask for it (then, and only then, counted
        against the key's ``rpm``)."""
        parsed = parse_chat_body(body)
        priority = self.access.priority(key, headers.get("x-priority"))
        self.access.check_model(key, parsed.model)
        if parsed.route is not None:
            self.access.check_route(key, parsed.route)
        request = to_chat_request(
            parsed,
            request_id=request_id_for(key.tenant, headers.get("idempotency-key"), body),
            tenant=key.tenant,
            priority=priority,
            deadline=utcnow() + timedelta(seconds=self.config.frontdoor.timeout_s),
        )
        if key.rpm is not None:
            admission = await self._limiter.acquire([LimitUse(f"frontdoor:{key.name}:rpm", key.rpm, 1)])
            if not admission.ok:
                raise ApiError(
                    429,
                    ApiErrorType.RATE_LIMIT,
                    DoorCode.RATE_LIMIT_EXCEEDED,
                    f"rate limit of {key.rpm} requests per minute reached for this key",
                    retry_after_s=admission.retry_after_s,
                )
        return request

    async def _stream(self, key: ApiKey, request: ChatRequest, include_usage: bool) -> Reply:
        """Server-sent events in OpenAI's chunk format; an error before the first chunk is an ordinary error
        reply (its status code), one after it an ``error`` event (the status line is sent by then)."""
        items = self.engine.stream(request, self.config.frontdoor.timeout_s + DEADLINE_GRACE_S)
        try:
            first = await anext(items)
        except BaseException:
            await items.aclose()
            raise
        if isinstance(first, ChatResponse):
            await items.aclose()
            self.metrics.completions.labels(key.name, first.status).inc()
            if first.status != "ok":
                return self._answer(first)
        headers = [(b"x-request-id", request.request_id.encode()), (b"cache-control", b"no-cache")]
        events = self._events(key, first, items, include_usage)
        return Reply(200, b"", headers, content_type=b"text/event-stream", events=events)

    async def _events(
        self,
        key: ApiKey,
        first: ChatChunk | ChatResponse,
        items: AsyncGenerator[ChatChunk | ChatResponse, None],
        include_usage: bool,
    ) -> AsyncIterator[bytes]:
        created = int(utcnow().timestamp())
        item: ChatChunk | ChatResponse | None = first
        try:
            while item is not None:
                if isinstance(item, ChatChunk):
                    yield sse(chunk_of(item, created))
                    item = await anext(items, None)
                    continue
                if item is not first:
                    self.metrics.completions.labels(key.name, item.status).inc()
                for data in closing_chunks(item, created, include_usage=include_usage):
                    yield sse(data)
                break
            yield DONE
        finally:
            await items.aclose()  # a client gone: the engine stops the call (inline) or stops waiting (Kafka)

    @staticmethod
    def _answer(response: ChatResponse) -> Reply:
        headers = [(b"x-request-id", response.request_id.encode())]
        if response.status != "ok":
            reply = Reply.error(error_of_response(response))
            reply.headers.extend(headers)
            return reply
        if response.backend:
            headers.append((b"x-llm-router-backend", response.backend.encode()))
        if response.cache_hit:
            headers.append((b"x-llm-router-cache", response.cache_hit.encode()))
        return Reply.json(200, to_completion(response), headers)

    def models(self, headers: Mapping[str, str]) -> Reply:
        """``GET /v1/models``: what the caller's key may ask for."""
        key = self.authenticate(headers)
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "llm-router"} for m in self.access.models(key)]
        return Reply.json(200, {"object": "list", "data": data})

    async def readyz(self) -> Reply:
        """200 when every dependency answers (Kafka and the door's own consumer; Redis when enabled), else 503."""
        checks = await self.engine.ready()
        if self._redis_probe is not None:
            checks["redis"] = await self._redis_probe()
        ok = all(checks.values())
        return Reply.json(200 if ok else 503, {"status": "ready" if ok else "not ready", "checks": checks})

    def metrics_text(self) -> Reply:
        body = self.metrics.exposition() + self.engine.metrics_text()
        return Reply(200, body, content_type=b"text/plain; version=0.0.4; charset=utf-8")


def _include_usage(body: bytes) -> bool:
    """``stream_options.include_usage`` of a body that parsed already."""
    options = json.loads(body).get("stream_options") or {}
    return bool(options.get("include_usage")) if isinstance(options, dict) else False


class RedisProbe:
    """Readiness of Redis: a PING within ``timeout_s`` (one connection pool, created on first use)."""

    def __init__(self, url: str, timeout_s: float = 1.0) -> None:
        self._url, self._timeout_s = url, timeout_s
        self._client: Any = None

    async def __call__(self) -> bool:
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.from_url(
                self._url, socket_timeout=self._timeout_s, socket_connect_timeout=self._timeout_s
            )
        try:
            return bool(await asyncio.wait_for(self._client.ping(), self._timeout_s))
        except Exception:  # unreachable, timed out, refused: not ready, whatever the cause
            return False

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

"""Fake provider: a real HTTP server speaking the OpenAI, Anthropic and Gemini wire formats, with
deterministic answers and per-backend faults changed at run time.

Routes (one process serves many independent backends, named in the path):
  POST /b/{backend}/v1/chat/completions                     OpenAI (also /v1/chat/completions = "default")
  POST /b/{backend}/v1/messages                             Anthropic
  POST /b/{backend}/v1beta/models/{model}:generateContent   Gemini
Faults (see FaultPlan) include a required API key (401) and a model list (404).
Admin (JSON):
  GET  /admin/backends/{backend}          -> {"faults": FaultPlan, "stats": BackendStats}
  GET  /admin/backends/{backend}/prompts  -> {"calls": {prompt: calls}} (counted while the plan's count_prompts)
  PUT  /admin/backends/{backend}/faults   body: FaultPlan fields (replaces the plan)
  POST /admin/reset                       clears every plan and counter
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from infra.fake_provider.faults import BackendStats, FaultPlan
from infra.fake_provider.tools import read_tool_ask, with_tools
from infra.fake_provider.wire import FORMATS, Parsed, WireFormat, stream_events

__all__ = ["PROMPT_KEY_CHARS", "FakeProviderServer", "build_app", "fake_answer", "prompt_key"]


def fake_answer(model: str, messages: list[dict[str, Any]]) -> str:
    """Deterministic content derived from the last user message."""
    return f"[{model}] answer to: {_last_user(messages)[:400]}"


def _last_user(messages: list[dict[str, Any]]) -> str:
    return next((str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), "")


#: characters of a prompt that name it in the per-prompt call counts (``FaultPlan.count_prompts``)
PROMPT_KEY_CHARS = 200


def prompt_key(messages: list[dict[str, Any]]) -> str:
    """What names a call in the per-prompt counts: the last user message, cut to PROMPT_KEY_CHARS."""
    return _last_user(messages)[:PROMPT_KEY_CHARS]


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


def _refusal(plan: FaultPlan, stats: BackendStats, headers: Mapping[str, str], model: str) -> tuple[int, str] | None:
    """What a real provider answers before any work: 401 to a wrong key (in whichever header the wire format
    uses), 404 to a model it does not serve."""
    if plan.api_key is not None:
        sent = {headers.get("x-api-key"), headers.get("x-goog-api-key"), headers.get("authorization")}
        if not sent & {plan.api_key, f"Bearer {plan.api_key}"}:
            stats.auth_rejected += 1
            return 401, "invalid api key (injected)"
    if plan.models is not None and model not in plan.models:
        stats.model_not_found += 1
        return 404, f"the model {model} does not exist or you do not have access to it (injected)"
    return None


async def _answer(
    request: web.Request, fmt: WireFormat, parsed: Parsed, plan: FaultPlan, stats: BackendStats, *, trickle: bool
) -> web.StreamResponse:
    """The deterministic answer, whole or (``trickle``) a few bytes at a time."""
    content = plan.fixed_answer if plan.fixed_answer is not None else fake_answer(parsed.model, parsed.messages)
    if parsed.max_tokens:
        content = " ".join(content.split()[: int(parsed.max_tokens)])
    prompt_tokens = sum(_tokens(m["content"]) for m in parsed.messages)
    stats.ok += 1
    if parsed.stream:
        response, whole = await _stream(
            request, fmt_name_of(fmt), parsed, content, prompt_tokens, plan.stream_interval_s
        )
        stats.abandoned += 0 if whole else 1
        return response
    body = fmt.ok(parsed, content, prompt_tokens, _tokens(content), stats.calls)
    if parsed.ask is not None:
        body = with_tools(fmt_name_of(fmt), parsed.ask, body, _last_user(parsed.messages), content)
    if trickle:
        stats.trickled += 1
        return await _trickle(request, json.dumps(body).encode(), plan.trickle_bytes, plan.trickle_interval_s)
    return web.json_response(body)


def fmt_name_of(fmt: WireFormat) -> str:
    return next(name for name, f in FORMATS.items() if f is fmt)


async def _stream(
    request: web.Request, fmt: str, parsed: Parsed, content: str, prompt_tokens: int, pause_s: float
) -> tuple[web.StreamResponse, bool]:
    """The answer as server-sent events, a word (with its trailing space) per text event, ``pause_s`` apart;
    and whether it was sent whole (False: the client went away mid-stream)."""
    pieces = re.findall(r"\S+\s*", content) or [content]
    response = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
    await response.prepare(request)
    try:
        for event in stream_events(fmt, parsed, pieces, prompt_tokens, _tokens(content)):
            data = event if isinstance(event, str) else json.dumps(event)
            await response.write(f"data: {data}\n\n".encode())
            if pause_s:
                await asyncio.sleep(pause_s)
        await response.write_eof()
    except (ConnectionError, RuntimeError):  # the client went away mid-stream
        return response, False
    return response, True


async def _trickle(request: web.Request, body: bytes, chunk: int, pause_s: float) -> web.StreamResponse:
    """Send ``body`` ``chunk`` bytes at a time with a pause before each: a client's per-read timeout never fires."""
    response = web.StreamResponse(headers={"content-type": "application/json"})
    response.content_length = len(body)
    await response.prepare(request)
    try:
        for i in range(0, len(body), chunk):
            await asyncio.sleep(pause_s)
            await response.write(body[i : i + chunk])
        await response.write_eof()
    except (ConnectionError, RuntimeError):  # the client gave up: nothing left to send to
        pass
    return response


class _State:
    def __init__(self, seed: int | None) -> None:
        self.plans: dict[str, FaultPlan] = {}
        self.stats: dict[str, BackendStats] = {}
        self.limits: dict[str, tuple[int, asyncio.Semaphore]] = {}
        self.prompt_calls: dict[str, dict[str, int]] = {}
        self.rng = random.Random(seed)

    def plan(self, backend: str) -> FaultPlan:
        return self.plans.setdefault(backend, FaultPlan())

    def stat(self, backend: str) -> BackendStats:
        return self.stats.setdefault(backend, BackendStats())

    def count_prompt(self, backend: str, messages: list[dict[str, Any]]) -> None:
        calls = self.prompt_calls.setdefault(backend, {})
        key = prompt_key(messages)
        calls[key] = calls.get(key, 0) + 1

    def limit(self, backend: str, cap: int) -> asyncio.Semaphore:
        current = self.limits.get(backend)
        if current is None or current[0] != cap:
            current = (cap, asyncio.Semaphore(cap))
            self.limits[backend] = current
        return current[1]

    def hit(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate


def _error(fmt: WireFormat, status: int, message: str, retry_after: float | None = None) -> web.Response:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return web.json_response(fmt.error(status, message), status=status, headers=headers)


class _FakeProvider:
    """The request handlers: one call goes through refusals, injected failures, latency, then the answer."""

    def __init__(self, state: _State, clock: Callable[[], float]) -> None:
        self.state = state
        self.clock = clock

    async def serve(self, request: web.Request, fmt_name: str, *, stream: bool = False) -> web.StreamResponse:
        fmt = FORMATS[fmt_name]
        backend = request.match_info.get("backend", "default")
        plan, stats = self.state.plan(backend), self.state.stat(backend)
        stats.calls += 1
        try:
            raw = await request.json()
            parsed: Parsed = fmt.parse(raw, request.match_info.get("model"))
            parsed.ask = read_tool_ask(fmt_name, raw)
        except (ValueError, LookupError, TypeError, AttributeError) as exc:  # LookupError: an empty conversation
            stats.errors += 1
            return _error(fmt, 400, f"malformed request body: {type(exc).__name__} {exc}")
        parsed.stream = parsed.stream or stream
        if plan.count_prompts:
            self.state.count_prompt(backend, parsed.messages)
        refused = self._refuse(request, fmt, backend, parsed, plan, stats)
        if refused is not None:
            return refused
        if self.state.hit(plan.hang_rate):
            stats.hung += 1
            await asyncio.sleep(plan.hang_s)
        if self.state.hit(plan.rate_limit_rate):
            stats.rate_limited += 1
            return _error(fmt, 429, "rate limit reached (injected)", plan.retry_after_s)
        await self._hold(backend, plan, stats)
        if request.transport is None or request.transport.is_closing():  # the client gave up while we "thought"
            stats.abandoned += 1
            return web.Response(status=499)
        if self.state.hit(plan.error_rate):
            stats.errors += 1
            retry_after = plan.retry_after_s if plan.error_status in (429, 503) else None
            return _error(fmt, plan.error_status, f"injected error {plan.error_status}", retry_after)
        return await _answer(request, fmt, parsed, plan, stats, trickle=self.state.hit(plan.trickle_rate))

    def _refuse(
        self, request: web.Request, fmt: WireFormat, backend: str, parsed: Parsed, plan: FaultPlan, stats: BackendStats
    ) -> web.Response | None:
        """Credential/model refusals, an outage, or a dropped connection — before any latency."""
        refusal = _refusal(plan, stats, request.headers, parsed.model)
        if refusal is not None:
            return _error(fmt, *refusal)
        if plan.in_outage(self.clock()):
            stats.outage_rejected += 1
            return _error(fmt, 503, f"backend {backend} is unavailable (injected outage)", plan.retry_after_s)
        if self.state.hit(plan.reset_rate):
            stats.resets += 1
            if request.transport is not None:
                request.transport.abort()  # RST-like: the client sees the connection drop mid-request
            raise asyncio.CancelledError
        return None

    async def _hold(self, backend: str, plan: FaultPlan, stats: BackendStats) -> None:
        """The call's latency, inside the backend's concurrency limit (counted as in flight)."""
        limit = self.state.limit(backend, plan.max_concurrency) if plan.max_concurrency else None
        if limit is not None:
            await limit.acquire()
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            delay = plan.draw_latency(self.state.rng)
            if delay:
                await asyncio.sleep(delay)
        finally:
            stats.in_flight -= 1
            if limit is not None:
                limit.release()

    async def openai(self, request: web.Request) -> web.StreamResponse:
        return await self.serve(request, "openai")

    async def anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self.serve(request, "anthropic")

    async def gemini(self, request: web.Request) -> web.StreamResponse:
        return await self.serve(request, "gemini")

    async def gemini_stream(self, request: web.Request) -> web.StreamResponse:
        return await self.serve(request, "gemini", stream=True)

    async def get_backend(self, request: web.Request) -> web.Response:
        name = request.match_info["backend"]
        state = self.state
        return web.json_response({"faults": state.plan(name).model_dump(), "stats": state.stat(name).model_dump()})

    async def get_prompts(self, request: web.Request) -> web.Response:
        return web.json_response({"calls": self.state.prompt_calls.get(request.match_info["backend"], {})})

    async def put_faults(self, request: web.Request) -> web.Response:
        name = request.match_info["backend"]
        try:
            plan = FaultPlan.model_validate(await request.json())
        except (ValueError, ValidationError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if plan.outage_for_s:
            plan.outage_until = self.clock() + plan.outage_for_s
        self.state.plans[name] = plan
        return web.json_response({"faults": plan.model_dump()})

    async def reset(self, request: web.Request) -> web.Response:
        self.state.plans.clear()
        self.state.stats.clear()
        self.state.limits.clear()
        self.state.prompt_calls.clear()
        return web.json_response({"ok": True})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})


def build_app(seed: int | None = None, clock: Callable[[], float] = time.time) -> web.Application:
    """The aiohttp application (use :class:`FakeProviderServer` to run it in-process). ``clock`` times the
    self-healing outages (``outage_for_s``); tests inject one to end an outage without waiting for it."""
    fake = _FakeProvider(_State(seed), clock)
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", fake.openai)
    app.router.add_post("/b/{backend}/v1/chat/completions", fake.openai)
    app.router.add_post("/b/{backend}/v1/messages", fake.anthropic)
    app.router.add_post("/b/{backend}/v1beta/models/{model}:generateContent", fake.gemini)
    app.router.add_post("/b/{backend}/v1beta/models/{model}:streamGenerateContent", fake.gemini_stream)
    app.router.add_get("/admin/backends/{backend}", fake.get_backend)
    app.router.add_get("/admin/backends/{backend}/prompts", fake.get_prompts)
    app.router.add_put("/admin/backends/{backend}/faults", fake.put_faults)
    app.router.add_post("/admin/reset", fake.reset)
    app.router.add_get("/healthz", fake.health)
    return app


class FakeProviderServer:
    """Runs the fake provider inside the current event loop: ``async with FakeProviderServer() as srv``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.port = port
        self._runner = web.AppRunner(build_app(seed, clock), access_log=None, shutdown_timeout=0.5)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def backend_url(self, backend: str, wire: str = "openai") -> str:
        """Base URL a client of ``backend`` uses: ``.../v1`` (OpenAI, Anthropic) or ``.../v1beta`` (Gemini)."""
        return f"{self.url}/b/{backend}/{'v1beta' if wire == 'gemini' else 'v1'}"

    async def start(self) -> FakeProviderServer:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        if self.port == 0:
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> FakeProviderServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

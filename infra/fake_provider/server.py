"""Fake provider: OpenAI chat completions on ``/b/{backend}/v1/chat/completions`` (and ``/v1/...`` for
backend ``default``), deterministic answers, per-backend faults set through ``/admin``.

Admin API (JSON):
  GET  /admin/backends/{name}          -> {"faults": FaultPlan, "stats": BackendStats}
  PUT  /admin/backends/{name}/faults   body: FaultPlan fields (replaces the plan)
  POST /admin/reset                    clears every plan and counter
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from infra.fake_provider.faults import BackendStats, FaultPlan

__all__ = ["FakeProviderServer", "build_app", "fake_answer"]


def fake_answer(model: str, messages: list[dict[str, Any]]) -> str:
    """Deterministic content derived from the last user message."""
    last = next((str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), "")
    return f"[{model}] answer to: {last[:400]}"


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


class _State:
    def __init__(self, seed: int | None) -> None:
        self.plans: dict[str, FaultPlan] = {}
        self.stats: dict[str, BackendStats] = {}
        self.limits: dict[str, asyncio.Semaphore] = {}
        self.rng = random.Random(seed)

    def plan(self, backend: str) -> FaultPlan:
        return self.plans.setdefault(backend, FaultPlan())

    def stat(self, backend: str) -> BackendStats:
        return self.stats.setdefault(backend, BackendStats())


def _openai_error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": kind, "code": None}}, status=status, headers=headers
    )


def build_app(seed: int | None = None) -> web.Application:
    """The aiohttp application (use :class:`FakeProviderServer` to run it)."""
    state = _State(seed)
    app = web.Application(client_max_size=16 * 1024 * 1024)

    async def chat(request: web.Request) -> web.StreamResponse:
        backend = request.match_info.get("backend", "default")
        plan, stats = state.plan(backend), state.stat(backend)
        stats.calls += 1
        try:
            body = await request.json()
            model = str(body["model"])
            messages = list(body["messages"])
        except (ValueError, KeyError, TypeError):
            stats.errors += 1
            return _openai_error(400, "body must be JSON with 'model' and 'messages'", "invalid_request_error")
        if plan.outage:
            stats.errors += 1
            hdr = {"Retry-After": f"{plan.retry_after_s:g}"} if plan.retry_after_s is not None else None
            return _openai_error(503, f"backend {backend} is down (injected outage)", "server_error", hdr)
        if plan.rate_limit_rate and state.rng.random() < plan.rate_limit_rate:
            stats.rate_limited += 1
            hdr = {"Retry-After": f"{plan.retry_after_s:g}"} if plan.retry_after_s is not None else None
            return _openai_error(429, "rate limit reached (injected)", "rate_limit_error", hdr)
        limit = None
        if plan.max_concurrency:
            limit = state.limits.get(backend)
            if limit is None or getattr(limit, "_llmr_cap", None) != plan.max_concurrency:
                limit = asyncio.Semaphore(plan.max_concurrency)
                limit._llmr_cap = plan.max_concurrency  # type: ignore[attr-defined]
                state.limits[backend] = limit
            await limit.acquire()
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            delay = plan.draw_latency(state.rng)
            if delay:
                await asyncio.sleep(delay)
            if plan.error_rate and state.rng.random() < plan.error_rate:
                stats.errors += 1
                return _openai_error(plan.error_status, f"injected error {plan.error_status}", "server_error")
        finally:
            stats.in_flight -= 1
            if limit is not None:
                limit.release()
        content = fake_answer(model, messages)
        if body.get("max_tokens"):
            content = " ".join(content.split()[: int(body["max_tokens"])])
        prompt_tokens = sum(_tokens(str(m.get("content", ""))) for m in messages)
        stats.ok += 1
        return web.json_response(
            {
                "id": f"chatcmpl-fake-{stats.calls}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": _tokens(content),
                    "total_tokens": prompt_tokens + _tokens(content),
                },
            }
        )

    async def get_backend(request: web.Request) -> web.Response:
        name = request.match_info["backend"]
        return web.json_response({"faults": state.plan(name).model_dump(), "stats": state.stat(name).model_dump()})

    async def put_faults(request: web.Request) -> web.Response:
        name = request.match_info["backend"]
        try:
            state.plans[name] = FaultPlan.model_validate(await request.json())
        except (ValueError, ValidationError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"faults": state.plans[name].model_dump()})

    async def reset(request: web.Request) -> web.Response:
        state.plans.clear()
        state.stats.clear()
        state.limits.clear()
        return web.json_response({"ok": True})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/b/{backend}/v1/chat/completions", chat)
    app.router.add_get("/admin/backends/{backend}", get_backend)
    app.router.add_put("/admin/backends/{backend}/faults", put_faults)
    app.router.add_post("/admin/reset", reset)
    app.router.add_get("/healthz", health)
    return app


class FakeProviderServer:
    """Runs the fake provider inside the current event loop: ``async with FakeProviderServer() as srv``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: int | None = None) -> None:
        self.host = host
        self.port = port
        self._runner = web.AppRunner(build_app(seed), access_log=None)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def backend_url(self, backend: str) -> str:
        """Base URL for an OpenAI client of ``backend`` (ends in ``/v1``)."""
        return f"{self.url}/b/{backend}/v1"

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

"""Which backends (and models) may serve a request, in the order to try them, and why.

1. ``request.route`` names a route → that route.
2. A concrete model name (served by some backend, not an alias) → that model on every backend serving it,
   unless a route lists the name in ``match.models``.
3. Otherwise (no model, ``auto``, an alias) routes are evaluated in order, first match wins. Semantic
   exemplars: among the routes whose other conditions hold, the exemplar route closest to the prompt wins if
   its similarity reaches its threshold.
4. Nothing matched → the hint (through aliases) or ``default_model`` on every backend serving it.

Entitlements (:mod:`agents.entitlements`) hold throughout: a tier the tenant is not entitled to is ignored, a
named route the tenant may not use is refused, rule evaluation passes over such routes (and routes with no model
the tenant may use), and the candidates are narrowed to the tenant's models (none left: ``not_entitled``) and to
those whose ``model_caps.max_tokens`` admits the request's ``max_tokens`` (none left: ``max_tokens_exceeded``;
the request is refused, never clamped: a clamped answer would be silently cut short).

The route's strategy (a registered plugin) orders the candidates. Health, saturation and rate-limit headroom are
applied per attempt by the processor (:meth:`ModelRouter.switch_order` puts saturated backends last)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.entitlements import Entitlements
from agents.health_board import HealthBoard
from agents.strategies import Candidate, StrategyRegistry, default_strategies
from agents.token_estimate import DEFAULT_COMPLETION_TOKENS, estimate_prompt_tokens
from infra.degraded import Degradation
from infra.pricing import PriceTable
from schemas.config import RouteConfig, RouteMatch, RouterConfig
from schemas.errors import NoRouteError
from schemas.events import ChatRequest, ErrorCode, RoutingDecision

log = logging.getLogger(__name__)

__all__ = ["Candidate", "ExemplarIndex", "ModelRouter", "RouteMatcher", "RoutePlan"]

_WORD_EDGE = r"(?<![\w]){}(?![\w])"


@dataclass
class RoutePlan:
    candidates: list[Candidate]
    decision: RoutingDecision


class RouteMatcher:
    """The non-semantic conditions of one route, compiled."""

    def __init__(self, route: RouteConfig) -> None:
        m: RouteMatch = route.match
        self.route = route
        self._regex = [re.compile(p, re.IGNORECASE) for p in m.regex]
        self._keywords = [re.compile(_WORD_EDGE.format(re.escape(k)), re.IGNORECASE) for k in m.keywords]

    def check(self, request: ChatRequest, prompt: str, prompt_tokens: int) -> str | None:
        """Why the route matches (ignoring exemplars), or ``None`` when it does not."""
        m = self.route.match
        why: list[str] = []
        if m.models:
            hint = request.model or ""
            if hint not in m.models:
                return None
            why.append(f"model hint {hint or '(none)'!r}")
        if m.tenants:
            if request.tenant not in m.tenants:
                return None
            why.append(f"tenant {request.tenant}")
        for key, allowed in (("tier", m.tiers), ("user", m.users)):
            if allowed:
                value = request.metadata.get(key)
                if value not in allowed:
                    return None
                why.append(f"{key} {value}")
        for key, value in m.metadata.items():
            if request.metadata.get(key) != value:
                return None
        if m.min_tokens is not None and prompt_tokens < m.min_tokens:
            return None
        if m.max_tokens is not None and prompt_tokens > m.max_tokens:
            return None
        if m.min_tokens is not None or m.max_tokens is not None:
            why.append(f"~{prompt_tokens} prompt tokens")
        if self._regex:
            hit = next((r.pattern for r in self._regex if r.search(prompt)), None)
            if hit is None:
                return None
            why.append(f"regex {hit!r}")
        if self._keywords:
            kw = next((k for k, r in zip(m.keywords, self._keywords, strict=True) if r.search(prompt)), None)
            if kw is None:
                return None
            why.append(f"keyword {kw!r}")
        return ", ".join(why) or "matches everything"


class ExemplarIndex:
    """Embeddings of each route's example prompts; scores a prompt against every route at once. An embedder that
    fails or takes longer than ``timeout_s`` yields no scores (routing falls back to the rules) and counts as a
    degradation: a routing hint must never fail or stall a request."""

    def __init__(
        self,
        routes: list[RouteConfig],
        embed_many: Callable[[list[str]], Any],
        embed_one: Callable[[str], Any] | None = None,
        *,
        timeout_s: float = 2.0,
    ) -> None:
        self._timeout_s = timeout_s
        self.degraded = Degradation(log, "exemplar routing skipped (embedder failed or slow)", component="routing")
        self._embed_many = embed_many
        self._embed_one = embed_one  # batched and remembered (the cache lookup embedded the same prompt)
        self._routes = [r.name for r in routes if r.match.exemplars]
        self._owner: list[int] = []
        self._texts: list[str] = []
        for i, r in enumerate(r for r in routes if r.match.exemplars):
            self._owner += [i] * len(r.match.exemplars)
            self._texts += r.match.exemplars
        self._matrix: np.ndarray | None = None
        self._embedding: asyncio.Future[Any] | None = None

    @property
    def empty(self) -> bool:
        return not self._texts

    async def _ensure(self) -> np.ndarray:
        """The exemplars' matrix, embedded once by a task a request's timeout does not cancel (a slow first
        embedding finishes in the background instead of starting over on every request)."""
        if self._matrix is not None:
            return self._matrix
        if self._embedding is None or (self._embedding.done() and self._embedding.exception() is not None):
            self._embedding = asyncio.get_running_loop().create_task(  # outlives the request: its own context
                self._embed_many(self._texts), context=contextvars.Context()
            )
        self._matrix = np.asarray(await asyncio.shield(self._embedding), dtype=np.float32)
        return self._matrix

    async def scores(self, prompt: str) -> dict[str, float]:
        """Best similarity of ``prompt`` to each exemplar route; none when the embedder fails or is slow."""
        if self.empty:
            return {}
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._scores(prompt)
        except Exception as exc:  # TimeoutError included: any embedder failure only costs the hint
            self.degraded.report(exc, "exemplars")
            return {}

    async def _scores(self, prompt: str) -> dict[str, float]:
        matrix = await self._ensure()
        if self._embed_one is not None:
            query = np.asarray(await self._embed_one(prompt), dtype=np.float32).reshape(-1)
        else:
            query = np.asarray(await self._embed_many([prompt]), dtype=np.float32)[0]
        sims = matrix @ query
        best: dict[str, float] = {}
        for owner, sim in zip(self._owner, sims.tolist(), strict=True):
            name = self._routes[owner]
            best[name] = max(best.get(name, -1.0), float(sim))
        return best


@dataclass
class _Context:
    """What strategies see (see :class:`agents.strategies.RoutingContext`)."""

    router: ModelRouter
    request: ChatRequest
    prompt_tokens: int
    rng: random.Random = field(default_factory=random.Random)

    def cost_estimate(self, candidate: Candidate) -> float | None:
        out = self.request.max_tokens or DEFAULT_COMPLETION_TOKENS
        return self.router.prices.estimate(candidate.model, self.prompt_tokens, out)

    def latency_ms(self, backend: str) -> float | None:
        return self.router.latency_ms(backend)

    def load(self, backend: str) -> float:
        return self.router.load(backend)


class ModelRouter:
    """Routes in config order, strategies from a registry, live backend state from the health board."""

    def __init__(
        self,
        config: RouterConfig,
        *,
        strategies: StrategyRegistry | None = None,
        health: HealthBoard | None = None,
        exemplars: ExemplarIndex | None = None,
        prices: PriceTable | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self.strategies = strategies or default_strategies()
        self.health = health
        self.exemplars = exemplars
        self.prices = prices or PriceTable(config.pricing)
        self._clock = clock
        self._rng = rng or random.Random()
        self._matchers = [RouteMatcher(r) for r in config.routes]
        self._by_name = {r.name: r for r in config.routes}
        self._served = {m for b in config.backends for m in b.models if m != "*"}
        self.entitlements = Entitlements(config)
        aliases = config.model_aliases
        self._caps = {aliases.get(m, m): c.max_tokens for m, c in config.model_caps.items() if c.max_tokens}
        for route in config.routes:
            self.strategies.get(route.strategy)  # an unknown strategy is a start-up error

    @property
    def config(self) -> RouterConfig:
        """The config it routes by (read only): what else is priced and served, e.g. for cache translations."""
        return self._config

    # --- model resolution ------------------------------------------------------------------------------------
    async def routed_model(self, request: ChatRequest) -> str:
        """The model the request goes to first (aliases, routes, entitlements, switching applied): the cache's
        key, so two requests share an answer only when they would be sent to the same model, whatever hint
        (alias, route name, none) they gave. Raises :class:`NoRouteError` like :meth:`plan`."""
        plan = await self.plan(request)
        return self.switch_order(plan.candidates)[0][0].model

    def _servers(self, model: str, backend: str | None = None, weight: float = 1.0) -> list[Candidate]:
        model = self._config.model_aliases.get(model, model)
        return [
            Candidate(b.name, model, weight)
            for b in self._config.backends
            if b.serves(model) and backend in (None, b.name)
        ]

    def _direct(self, model: str, why: str, tenant: str) -> RoutePlan:
        found = self._servers(model)
        if not found:
            known = sorted(self._served | set(self._config.model_aliases) | set(self._usable_routes(tenant)))
            raise NoRouteError(f"no backend serves model {model!r} (known: {', '.join(known)})")
        decision = RoutingDecision(strategy="priority-failover", reason=why)
        return RoutePlan(found, decision)

    def _explicit_model(self, request: ChatRequest) -> bool:
        hint = request.model
        if hint is None or hint in self._config.model_aliases:
            return False
        if any(hint in r.match.models for r in self._config.routes):
            return False
        return hint in self._served or (any("*" in b.models for b in self._config.backends) and hint != "auto")

    # --- planning -----------------------------------------------------------------------------------------------
    def candidates(self, request: ChatRequest) -> list[Candidate]:
        """Candidates without semantic exemplars (synchronous; used where no embedding is possible)."""
        return self._plan(request, {}).candidates

    async def plan(self, request: ChatRequest) -> RoutePlan:
        """The route, its ordered candidates and the decision record."""
        scores: dict[str, float] = {}
        if (
            self.exemplars is not None
            and not self.exemplars.empty
            and request.route is None
            and not self._explicit_model(request)
        ):
            scores = await self.exemplars.scores(request.prompt_text())
        return self._plan(request, scores)

    def _plan(self, request: ChatRequest, scores: dict[str, float]) -> RoutePlan:
        request = self.entitlements.effective(request)
        return self._admit(request, self._select(request, scores))

    def _select(self, request: ChatRequest, scores: dict[str, float]) -> RoutePlan:
        tenant = request.tenant
        if request.route is not None:
            route = self._by_name.get(request.route)
            if route is None:
                if request.route in self._config.model_aliases or request.route in self._served:
                    return self._direct(request.route, f"route hint {request.route!r} is a model", tenant)
                usable = ", ".join(self._usable_routes(tenant)) or "none"
                raise NoRouteError(f"unknown route {request.route!r} (routes: {usable})")
            if not self.entitlements.may_use_route(tenant, route):
                raise NoRouteError(f"tenant {tenant!r} may not use route {route.name!r}", code=ErrorCode.NOT_ENTITLED)
            return self._order(route, request, f"named route {route.name!r}")
        if self._explicit_model(request):
            assert request.model is not None
            return self._direct(request.model, f"explicit model {request.model!r}", tenant)
        prompt = request.prompt_text()
        tokens = estimate_prompt_tokens(request)
        passing: list[tuple[RouteMatcher, str]] = []
        for matcher in self._matchers:
            if not self._usable(matcher.route, tenant):
                continue
            why = matcher.check(request, prompt, tokens)
            if why is not None:
                passing.append((matcher, why))
        best_semantic = self._best_semantic([m.route for m, _ in passing], scores)
        for matcher, why in passing:
            route = matcher.route
            if route.match.exemplars:
                if route.name != best_semantic:
                    continue
                why = (
                    f"{why}; closest exemplars ({scores[route.name]:.2f})"
                    if why != "matches everything"
                    else (f"closest exemplars ({scores[route.name]:.2f})")
                )
            return self._order(route, request, why, tokens)
        hint = request.model if request.model not in (None, "auto") else None
        model = self._config.model_aliases.get(hint, hint) if hint else self._config.default_model
        return self._direct(model, f"no route matched: {'alias ' + repr(hint) if hint else 'default model'}", tenant)

    # --- entitlements and caps ----------------------------------------------------------------------------------
    def _usable_routes(self, tenant: str) -> list[str]:
        return [r.name for r in self._config.routes if self.entitlements.may_use_route(tenant, r)]

    def _usable(self, route: RouteConfig, tenant: str) -> bool:
        """Whether rule evaluation may pick ``route`` for ``tenant``: it may use the route and one of its models."""
        if not self.entitlements.may_use_route(tenant, route):
            return False
        aliases = self._config.model_aliases
        return any(self.entitlements.may_use_model(tenant, aliases.get(t.model, t.model)) for t in route.targets)

    def _admit(self, request: ChatRequest, plan: RoutePlan) -> RoutePlan:
        """The plan narrowed to the models the tenant may use and whose cap admits ``max_tokens`` (order kept)."""
        tenant = request.tenant
        allowed = [c for c in plan.candidates if self.entitlements.may_use_model(tenant, c.model)]
        if not allowed:
            refusal = self.entitlements.model_refusal(tenant, plan.candidates[0].model)
            raise NoRouteError(refusal, code=ErrorCode.NOT_ENTITLED)
        want = request.max_tokens
        over = {c.model: cap for c in allowed if (cap := self._caps.get(c.model)) is not None and want and want > cap}
        if over:
            allowed = [c for c in allowed if c.model not in over]
            if not allowed:
                caps = ", ".join(f"{m}: {cap}" for m, cap in over.items())
                message = f"max_tokens {want} exceeds the cap of every candidate ({caps})"
                raise NoRouteError(message, code=ErrorCode.MAX_TOKENS_EXCEEDED)
            plan.decision.reason += "".join(f"; skipped {m}: max_tokens {want} > cap {cap}" for m, cap in over.items())
        plan.candidates = allowed
        return plan

    @staticmethod
    def _best_semantic(routes: list[RouteConfig], scores: dict[str, float]) -> str | None:
        ranked = [
            (scores[r.name], r.name)
            for r in routes
            if r.match.exemplars and r.name in scores and scores[r.name] >= r.match.exemplar_threshold
        ]
        return max(ranked)[1] if ranked else None

    def _order(self, route: RouteConfig, request: ChatRequest, why: str, tokens: int | None = None) -> RoutePlan:
        found: list[Candidate] = []
        for target in route.targets:
            for c in self._servers(target.model, target.backend, target.weight):
                if all((c.backend, c.model) != (f.backend, f.model) for f in found):
                    found.append(c)
        prompt_tokens = estimate_prompt_tokens(request) if tokens is None else tokens
        context = _Context(self, request, prompt_tokens, self._rng)
        ordered = self.strategies.get(route.strategy).order(found, context)
        decision = RoutingDecision(route=route.name, strategy=route.strategy, reason=why)
        return RoutePlan(ordered, decision)

    # --- live state ---------------------------------------------------------------------------------------------
    def latency_ms(self, backend: str) -> float | None:
        if self.health is None:
            return None
        st = self.health.status[backend]
        if st.latency_ewma_ms is None or self._clock() - st.last_sample_at > self._config.routing.slo_recheck_s:
            return None
        return st.latency_ewma_ms

    def load(self, backend: str) -> float:
        if self.health is None:
            return 0.0
        return self.health.status[backend].in_flight / self._config.backend(backend).max_concurrency

    def saturation(self, backend: str) -> str | None:
        """Why the backend should be avoided for now (``None``: it has headroom)."""
        cfg = self._config.backend(backend)
        load = self.load(backend)
        if load >= self._config.routing.saturation_in_flight:
            return f"saturated: {load * cfg.max_concurrency:.0f} in flight (cap {cfg.max_concurrency})"
        ms = self.latency_ms(backend)
        if cfg.slo_ms is not None and ms is not None and ms > cfg.slo_ms:
            return f"slow: latency EWMA {ms:.0f} ms > SLO {cfg.slo_ms:.0f} ms"
        return None

    def switch_order(self, candidates: list[Candidate]) -> tuple[list[Candidate], dict[str, str]]:
        """Candidates with headroom first (strategy order kept), saturated ones after, and why."""
        reasons = {f"{c.backend}/{c.model}": r for c in candidates if (r := self.saturation(c.backend))}
        fresh = [c for c in candidates if f"{c.backend}/{c.model}" not in reasons]
        tired = [c for c in candidates if f"{c.backend}/{c.model}" in reasons]
        return fresh + tired, reasons

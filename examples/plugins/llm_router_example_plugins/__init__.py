"""Example LLM Router plugins, registered by this package's entry points (see pyproject.toml):

* ``round-robin`` (``llm_router.strategies``): each request starts at the next candidate in turn.
* ``redact`` (``llm_router.hooks``): replaces matches of regular expressions in the request before any cache,
  route or provider sees it, and in the answer.
* ``usage-metrics`` (``llm_router.hooks``): a Prometheus counter of tokens per model on the worker's
  ``/metrics``.

Configure them by name::

    routes: [{name: main, strategy: round-robin, targets: [...]}]
    hooks:
      - {name: redact, options: {patterns: ['\\b\\d{16}\\b'], replacement: '[card]'}}
      - {name: usage-metrics}
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from prometheus_client import Counter

__all__ = ["Redact", "RoundRobin", "UsageMetrics"]

EMAIL = r"[\w.+-]+@[\w-]+\.[\w.]+"


class RoundRobin:
    """A strategy: ``order(candidates, context)`` returns the candidates in the order to try them."""

    def __init__(self) -> None:
        self._turn = itertools.count()

    def order(self, candidates: list[Any], context: Any) -> list[Any]:
        if not candidates:
            return candidates
        start = next(self._turn) % len(candidates)
        return candidates[start:] + candidates[:start]


class Redact:
    """A hook: ``factory(context, **options)``; ``pre_request`` may return a changed request, ``post_response`` a
    changed response (``None``: unchanged)."""

    def __init__(self, context: Any, patterns: list[str] | None = None, replacement: str = "[redacted]") -> None:
        self._patterns = [re.compile(p) for p in (patterns or [EMAIL])]
        self._replacement = replacement

    def _clean(self, text: str) -> str:
        for pattern in self._patterns:
            text = pattern.sub(self._replacement, text)
        return text

    async def pre_request(self, request: Any) -> Any:
        messages = [m.model_copy(update={"content": self._clean(m.content)}) for m in request.messages]
        return request.model_copy(update={"messages": messages})

    async def post_response(self, request: Any, response: Any) -> Any:
        if response.content is None:
            return None
        return response.model_copy(update={"content": self._clean(response.content)})


class UsageMetrics:
    """A hook adding ``llm_router_example_tokens_total{model,kind}`` to the worker's registry (no label from a
    request: bounded series). A reload that keeps its name and options keeps the object (and its counter)."""

    def __init__(self, context: Any, prefix: str = "llm_router_example") -> None:
        self.tokens = Counter(
            f"{prefix}_tokens", "tokens of answered requests", ["model", "kind"], registry=context.registry
        )

    async def post_response(self, request: Any, response: Any) -> None:
        if response.status != "ok":
            return None
        for kind, n in (("prompt", response.usage.prompt_tokens), ("completion", response.usage.completion_tokens)):
            self.tokens.labels(response.model or "", kind).inc(n)
        return None

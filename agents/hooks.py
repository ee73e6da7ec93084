"""Pre-request and post-response hooks (``llm_router.hooks`` plugins), configured by name under ``hooks:``.

A hook plugin is a class (or factory) called as ``factory(context, **options)``; the object it returns has
``pre_request`` and/or ``post_response`` (:class:`schemas.protocols.Hook`). The serving path calls them in the
order configured: pre-request hooks before every round (a request is re-read from its record each round, so a
redaction must apply each time), post-response hooks once, on the terminal response. A config reload keeps the
hook objects whose name and options did not change (their metrics and state survive the reload)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas.config import HookConfig
from schemas.errors import ConfigError
from schemas.events import ChatRequest, ChatResponse
from schemas.plugins import HOOK_PLUGINS
from schemas.protocols import Hook, HookContext
from schemas.registry import Registry

__all__ = ["HOOKS", "HookChain", "HookRuntime", "as_hook_factory", "build_hooks"]

_METHODS = ("pre_request", "post_response")


def as_hook_factory(obj: Any) -> Callable[..., Hook]:
    """A hook plugin is a callable; a class must define at least one of the hook methods."""
    if not callable(obj):
        raise TypeError(f"expected a hook class or factory, got {type(obj).__name__}")
    if isinstance(obj, type) and not any(callable(getattr(obj, m, None)) for m in _METHODS):
        raise TypeError(f"{obj.__name__} has neither pre_request(request) nor post_response(request, response)")
    return obj


HOOKS: Registry[Callable[..., Hook]] = Registry(HOOK_PLUGINS, adapt=as_hook_factory, default=True)


@dataclass(frozen=True)
class HookRuntime:
    """The :class:`~schemas.protocols.HookContext` the router gives hook factories."""

    registry: Any
    worker_id: str = ""


def _key(spec: HookConfig) -> str:
    return json.dumps([spec.name, spec.options], sort_keys=True, default=str)


class HookChain:
    """The configured hooks, in order. Empty: both calls return their argument at once."""

    def __init__(self, hooks: list[tuple[str, Hook]] | None = None) -> None:
        self.hooks = hooks or []
        self._pre = [h.pre_request for _, h in self.hooks if callable(getattr(h, "pre_request", None))]
        self._post = [h.post_response for _, h in self.hooks if callable(getattr(h, "post_response", None))]

    def __bool__(self) -> bool:
        return bool(self.hooks)

    async def pre_request(self, request: ChatRequest) -> ChatRequest:
        for hook in self._pre:
            request = await hook(request) or request
        return request

    async def post_response(self, request: ChatRequest, response: ChatResponse) -> ChatResponse:
        for hook in self._post:
            response = await hook(request, response) or response
        return response


def build_hooks(
    specs: list[HookConfig],
    context: HookContext,
    *,
    previous: HookChain | None = None,
    registry: Registry[Callable[..., Hook]] = HOOKS,
) -> HookChain:
    """The chain ``specs`` describe; hooks of ``previous`` with the same name and options are kept as they are.
    A factory that raises or returns an object without hook methods is an error naming the hook."""
    kept = {key: hook for key, hook in (previous.hooks if previous is not None else [])}
    chain: list[tuple[str, Hook]] = []
    for spec in specs:
        key = _key(spec)
        hook = kept.get(key)
        if hook is None:
            factory = registry.get(spec.name)
            try:
                hook = factory(context, **spec.options)
            except Exception as exc:
                raise ConfigError(f"hook plugin {spec.name!r} could not be built from its options: {exc!r}") from exc
            if not any(callable(getattr(hook, m, None)) for m in _METHODS):
                raise ConfigError(f"hook plugin {spec.name!r} built {type(hook).__name__}, which has no hook method")
        chain.append((key, hook))
    return HookChain(chain)

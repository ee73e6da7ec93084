"""LLM Router's public API: ``from llm_router import Router, ChatRequest, ChatMessage``.

Everything a user needs lives here; the layer packages (schemas, infra, agents, streams) are the implementation
and may move. ``import llm_router`` stays cheap: the request/response models, the config loader and the error
types are plain data, while ``Router`` (the in-process engine: numpy, embedders, providers) and ``RouterClient``
(the Kafka SDK: aiokafka) load on first access (PEP 562), so library mode never pulls Kafka or Faust.

Errors: :class:`RouterError` is the base of everything the router raises; :class:`ConfigError` comes from
:func:`load_config` / ``Router.from_config``; :class:`ProviderError` is what provider adapters
(third-party ones included) raise. Routing, deadline and retry failures are not raised to callers: they come back
as a ``ChatResponse`` with ``status == "error"``.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from infra.config_loader import load_config
from schemas.errors import ConfigError, ProviderError, RouterError
from schemas.events import ChatMessage, ChatRequest, ChatResponse, Priority

if TYPE_CHECKING:
    from streams.client import RouterClient
    from streams.library import Router

try:
    __version__ = version("llm-router")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "ConfigError",
    "Priority",
    "ProviderError",
    "Router",
    "RouterClient",
    "RouterError",
    "__version__",
    "load_config",
]

# name -> module that defines it; imported on first attribute access, then cached in the module globals
_LAZY = {"Router": "streams.library", "RouterClient": "streams.client"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

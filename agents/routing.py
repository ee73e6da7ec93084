"""Which backends (and models) may serve a request, in the order to try them."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.config import RouterConfig
from schemas.errors import NoRouteError
from schemas.events import ChatRequest

__all__ = ["Candidate", "ModelRouter"]


@dataclass(frozen=True)
class Candidate:
    backend: str
    model: str


class ModelRouter:
    """Resolves the model hint (through aliases) and lists the backends that serve it, in config order."""

    def __init__(self, config: RouterConfig) -> None:
        self._config = config

    def resolve_model(self, request: ChatRequest) -> str:
        hint = request.route or request.model or self._config.default_model
        return self._config.model_aliases.get(hint, hint)

    def candidates(self, request: ChatRequest) -> list[Candidate]:
        model = self.resolve_model(request)
        found = [Candidate(b.name, model) for b in self._config.backends if b.serves(model)]
        if not found:
            known = sorted({m for b in self._config.backends for m in b.models} | set(self._config.model_aliases))
            raise NoRouteError(f"no backend serves model {model!r} (known: {', '.join(known)})")
        return found

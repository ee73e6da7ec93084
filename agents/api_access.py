"""What an API key of the front door may ask for: its class, models and routes. The key narrows its tenant's
entitlements (:mod:`agents.entitlements`), never widens them, so a refusal here is the one the router would give
later, given early as a 403 and without a Kafka round trip. Pure decisions on the config."""

from __future__ import annotations

from agents.entitlements import Entitlements
from schemas.config import ApiKey, RouterConfig
from schemas.events import PRIORITIES, Priority
from schemas.openai_api import ApiError, ApiErrorType, DoorCode

__all__ = ["ApiAccess"]


def _forbidden(code: DoorCode, message: str, param: str | None = None) -> ApiError:
    return ApiError(403, ApiErrorType.PERMISSION, code, message, param=param)


class ApiAccess:
    """The decisions for every key, resolved against one config."""

    def __init__(self, config: RouterConfig) -> None:
        self._config = config
        self._aliases = config.model_aliases
        self._entitlements = Entitlements(config)
        self._routes = {r.name: r for r in config.routes}
        # model hints that ask the router to choose ("auto"): the tenant's entitlements narrow its choice later
        self._hints = frozenset(m for r in config.routes for m in r.match.models if m)

    def _resolve(self, model: str) -> str:
        return self._aliases.get(model, model)

    def served(self, model: str) -> bool:
        resolved = self._resolve(model)
        return any(b.serves(resolved) for b in self._config.backends)

    def priority(self, key: ApiKey, asked: str | None) -> Priority:
        """The key's default class, or the one ``X-Priority`` asks for when the key may choose it."""
        if asked is None or not asked.strip():
            return key.priority
        try:
            wanted = Priority(asked.strip().lower())
        except ValueError:
            names = ", ".join(p.value for p in PRIORITIES)
            raise ApiError(
                400, ApiErrorType.INVALID_REQUEST, DoorCode.INVALID_VALUE, f"X-Priority must be one of {names}"
            ) from None
        if wanted is not key.priority and wanted not in key.priorities:
            raise _forbidden(DoorCode.PRIORITY_NOT_ALLOWED, f"this key may not use priority {wanted.value!r}")
        return wanted

    def check_model(self, key: ApiKey, model: str) -> None:
        """404 for a model no backend serves (nor a routing hint such as ``auto``), 403 for one the key or its
        tenant may not use. A key narrowed to ``models`` names one of them: it may not leave the choice to the
        router."""
        if not self.served(model) and model not in self._hints:
            raise ApiError(
                404,
                ApiErrorType.NOT_FOUND,
                DoorCode.MODEL_NOT_FOUND,
                f"the model {model!r} does not exist",
                param="model",
            )
        if not self.may_use(key, model):
            raise _forbidden(DoorCode.MODEL_NOT_ALLOWED, f"this key may not use model {model!r}", "model")

    def may_use(self, key: ApiKey, model: str) -> bool:
        if model in self._hints and not self.served(model):
            return key.models is None
        resolved = self._resolve(model)
        if key.models is not None and resolved not in {self._resolve(m) for m in key.models}:
            return False
        return self._entitlements.may_use_model(key.tenant, resolved)

    def check_route(self, key: ApiKey, name: str) -> None:
        route = self._routes.get(name)
        if route is None:
            raise ApiError(
                404, ApiErrorType.NOT_FOUND, DoorCode.ROUTE_NOT_FOUND, f"no route named {name!r}", param="route"
            )
        if (key.routes is not None and name not in key.routes) or not self._entitlements.may_use_route(
            key.tenant, route
        ):
            raise _forbidden(DoorCode.ROUTE_NOT_ALLOWED, f"this key may not use route {name!r}", "route")

    def models(self, key: ApiKey) -> list[str]:
        """The model names and aliases the key may ask for (``GET /v1/models``)."""
        names = {m for b in self._config.backends for m in b.models if m != "*"} | set(self._aliases) | self._hints
        return sorted(n for n in names if (self.served(n) or n in self._hints) and self.may_use(key, n))

"""What a tenant may use: models, named routes and tiers (the "entitlements" block of ``tenants.<id>``).

Everything a producer writes is untrusted, so the router decides with config alone:

* a tenant listed in ``tenants`` has its own entitlements; one not listed has those of ``tenants.default`` when
  that entry exists (requests that name no tenant are tenant ``default`` too), else none of the restrictions:
  any model a backend serves, any route. ``tenants: {default: {models: []}}`` denies every tenant not listed.
* ``models`` (aliases resolved) narrows every candidate list; ``routes`` is the named routes the tenant may use,
  by name or by matching; a route's own ``match.tenants`` holds for a named route too.
* ``metadata.tier`` is a privilege: it is removed from the request before routing unless the tenant is entitled
  to that tier, whoever the tenant is (no tier is granted by default).

The router (:mod:`agents.routing`) applies these while it plans; a refusal is a ``NoRouteError`` with code
``not_entitled`` (dead letter ``forbidden``)."""

from __future__ import annotations

import logging

from schemas.config import RouteConfig, RouterConfig, TenantConfig
from schemas.events import ChatRequest

__all__ = ["DEFAULT_TENANT", "Entitlements"]

log = logging.getLogger(__name__)

DEFAULT_TENANT = "default"
_OPEN = TenantConfig()


class Entitlements:
    """The entitlements of every tenant, resolved once from the config."""

    def __init__(self, config: RouterConfig) -> None:
        aliases = config.model_aliases
        self._tenants = config.tenants
        self._models: dict[str, frozenset[str] | None] = {
            tenant: None if ent.models is None else frozenset(aliases.get(m, m) for m in ent.models)
            for tenant, ent in config.tenants.items()
        }

    def _key(self, tenant: str) -> str | None:
        """Whose entitlements apply: the tenant's own, ``default``'s, or none (``None``: unrestricted)."""
        if tenant in self._tenants:
            return tenant
        return DEFAULT_TENANT if DEFAULT_TENANT in self._tenants else None

    def of(self, tenant: str) -> TenantConfig:
        key = self._key(tenant)
        return _OPEN if key is None else self._tenants[key]

    def models(self, tenant: str) -> frozenset[str] | None:
        """The models (after aliases) the tenant may be served by; ``None``: any."""
        key = self._key(tenant)
        return None if key is None else self._models[key]

    def may_use_model(self, tenant: str, model: str) -> bool:
        allowed = self.models(tenant)
        return allowed is None or model in allowed

    def model_refusal(self, tenant: str, model: str) -> str:
        allowed = self.models(tenant)
        listed = ", ".join(sorted(allowed or ())) or "none"
        return f"tenant {tenant!r} may not use model {model!r} (allowed: {listed})"

    def may_use_route(self, tenant: str, route: RouteConfig) -> bool:
        if route.match.tenants and tenant not in route.match.tenants:
            return False
        allowed = self.of(tenant).routes
        return allowed is None or route.name in allowed

    def effective(self, request: ChatRequest) -> ChatRequest:
        """``request`` as routing may see it: without a ``metadata.tier`` the tenant is not entitled to."""
        tier = request.metadata.get("tier")
        if tier is None or tier in self.of(request.tenant).tiers:
            return request
        log.debug(
            "request %s: tier %r ignored (tenant %s is not entitled to it)", request.request_id, tier, request.tenant
        )
        metadata = {k: v for k, v in request.metadata.items() if k != "tier"}
        return request.model_copy(update={"metadata": metadata})

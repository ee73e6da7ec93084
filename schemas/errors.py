"""The one exception tree of the router.

Every error knows whether retrying can help (``retriable``) and carries a stable machine-readable ``code``
that ends up in failure events and dead-letter records.
"""

from __future__ import annotations

__all__ = [
    "CacheError",
    "ConfigError",
    "DeadlineExpired",
    "MessageError",
    "NoRouteError",
    "ProviderError",
    "RouterError",
]


class RouterError(Exception):
    """Base of every error raised by the router."""

    code: str = "router_error"
    retriable: bool = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigError(RouterError):
    """The configuration is missing, unreadable or invalid."""

    code = "config_invalid"


class MessageError(RouterError):
    """An inbound message cannot be decoded or fails validation (never retriable)."""

    code = "invalid_message"

    def __init__(self, message: str, *, code: str = "invalid_message", request_id: str | None = None) -> None:
        super().__init__(message, code=code)
        self.request_id = request_id


class ProviderError(RouterError):
    """A provider call failed. ``retriable`` and ``retry_after`` (seconds) tell the retry policy what to do."""

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        backend: str,
        retriable: bool,
        status: int | None = None,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.backend = backend
        self.retriable = retriable
        self.status = status
        self.retry_after = retry_after


class NoRouteError(RouterError):
    """No backend can serve the request (unknown model or route, or every candidate excluded)."""

    code = "no_route"


class DeadlineExpired(RouterError):
    """The request's deadline passed before it could be served."""

    code = "deadline_expired"


class CacheError(RouterError):
    """The cache backend failed; callers degrade to a cache bypass."""

    code = "cache_error"
    retriable = True

"""The one exception tree of the router.

Every error knows whether retrying can help (``retriable``) and carries a stable machine-readable ``code``
(an :class:`~schemas.events.ErrorCode`) that ends up in failure events and dead-letter records.
"""

from __future__ import annotations

from schemas.events import ErrorCode

__all__ = [
    "CacheError",
    "CacheJudgeDeclined",
    "CacheJudgeUnclear",
    "ConfigError",
    "DeadlineExpired",
    "MessageError",
    "NoRouteError",
    "ProviderError",
    "RequestCancelled",
    "RouterError",
    "WorkerStop",
]


class RouterError(Exception):
    """Base of every error raised by the router."""

    code: str = ErrorCode.ROUTER_ERROR
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

    code: str = ErrorCode.CONFIG_INVALID


class MessageError(RouterError):
    """An inbound message cannot be decoded or fails validation (never retriable)."""

    code: str = ErrorCode.INVALID_MESSAGE

    def __init__(
        self,
        message: str,
        *,
        code: str = ErrorCode.INVALID_MESSAGE,
        request_id: str | None = None,
        tenant: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.request_id = request_id
        self.tenant = tenant  # as the body names it (unverified): who may be told, once ingress believes it


class ProviderError(RouterError):
    """A provider call failed. ``retriable`` and ``retry_after`` (seconds) tell the retry policy what to do."""

    code: str = ErrorCode.PROVIDER_ERROR

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

    code: str = ErrorCode.NO_ROUTE


class DeadlineExpired(RouterError):
    """The request's deadline passed before it could be served."""

    code: str = ErrorCode.DEADLINE_EXPIRED


class RequestCancelled(RouterError):
    """The requester withdrew the request while it was queued or served (a :class:`CancelRequest`)."""

    code: str = ErrorCode.CANCELLED


class CacheError(RouterError):
    """The cache backend failed; callers degrade to a cache bypass."""

    code: str = ErrorCode.CACHE_ERROR
    retriable = True


class CacheJudgeDeclined(CacheError):
    """The cache's judge will not take this case (e.g. the tenant may not use the judge model): skipped, not a
    failure."""

    retriable = False


class CacheJudgeUnclear(CacheError):
    """The cache's judge gave no plain YES or NO (its call failed, took too long, or it said something else): the
    verification it was asked about teaches nothing."""

    retriable = False


class WorkerStop(RouterError):
    """A record's outcome could not be published, even after retries (the broker is unreachable or rejects it).
    The record must not be acknowledged: the agent stops the worker, and the group's next owner of the partition
    consumes the record again. Anything else would acknowledge a record that has no outcome (lost)."""

    code: str = ErrorCode.PUBLISH_FAILED

"""Turning HTTP outcomes into :class:`ProviderError` with the right ``retriable`` and ``retry_after``."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import httpx

from schemas.errors import ProviderError
from schemas.events import ErrorCode

__all__ = [
    "RETRIABLE_STATUS",
    "BackendFault",
    "backend_fault",
    "error_from_exception",
    "error_from_response",
    "parse_duration",
    "parse_reset_time",
    "parse_retry_after",
    "timeout_error",
]

RETRIABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
_MAX_RETRY_AFTER_S = 3600.0


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After`` (delta seconds or HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms:
        try:
            return min(max(float(raw_ms) / 1000.0, 0.0), _MAX_RETRY_AFTER_S)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return min(max(float(raw), 0.0), _MAX_RETRY_AFTER_S)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return min(max(when.timestamp() - now, 0.0), _MAX_RETRY_AFTER_S)


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(raw: str | None) -> float | None:
    """Seconds in a Go-style duration ("1s", "6m0s", "20ms", "1h2m3.5s") or a bare number of seconds."""
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(raw)
    if not parts or "".join(n + u for n, u in parts) != raw:
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


def parse_reset_time(raw: str | None, *, now: float | None = None) -> float | None:
    """Seconds until an RFC 3339 timestamp (Anthropic's ``anthropic-ratelimit-*-reset``)."""
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    now = time.time() if now is None else now
    return min(max(when.timestamp() - now, 0.0), _MAX_RETRY_AFTER_S)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        if isinstance(err, str):
            return err[:300]
        if body.get("message"):
            return str(body["message"])[:300]
    return str(body)[:300]


_CODE_OF_STATUS = {
    401: ErrorCode.PROVIDER_AUTH,
    403: ErrorCode.PROVIDER_AUTH,
    404: ErrorCode.PROVIDER_MODEL_NOT_FOUND,
    408: ErrorCode.PROVIDER_TRANSIENT,
    409: ErrorCode.PROVIDER_TRANSIENT,
    425: ErrorCode.PROVIDER_TRANSIENT,
    429: ErrorCode.RATE_LIMITED,
}


def error_from_response(backend: str, response: httpx.Response) -> ProviderError:
    """Map a non-2xx response: 408/409/425/429/5xx are retriable, other 4xx are not. 401/403 (the backend's
    credentials) and 404 (its model) get codes of their own: see :func:`backend_fault`."""
    status = response.status_code
    retriable = status in RETRIABLE_STATUS or status >= 500
    default = ErrorCode.PROVIDER_UNAVAILABLE if status >= 500 else ErrorCode.PROVIDER_REJECTED
    code = _CODE_OF_STATUS.get(status, default)
    return ProviderError(
        f"{backend}: HTTP {status}: {_error_message(response)}",
        backend=backend,
        retriable=retriable,
        status=status,
        retry_after=parse_retry_after(response.headers),
        code=code,
    )


@dataclass(frozen=True)
class BackendFault:
    """A call refused because of the backend, not the request: fail over. ``reason`` is for people (the health
    event); ``unhealthy``: switch the backend off (open its circuit)."""

    reason: str
    unhealthy: bool


def backend_fault(error: ProviderError, *, model_listed: bool) -> BackendFault | None:
    """Whether ``error`` is the backend's fault: its credentials were refused (401, or a provider's own way of
    saying so) or forbidden (403), or it lacks the model (404). ``None`` for everything else: a 400 is the
    request's own fault (terminal), the retriable ones are handled as transient.

    A 401 always switches the backend off. A 403 or 404 does so only when the backend lists the model
    (``model_listed``): through a ``"*"`` entry the model came from the request, and a request must not be able
    to switch a backend off for everyone by naming a model it cannot have."""
    if error.code == ErrorCode.PROVIDER_AUTH:
        forbidden = error.status == 403
        what = "access denied" if forbidden else "credentials rejected"
        return BackendFault(f"{what} ({error.status})", unhealthy=model_listed or not forbidden)
    if error.code == ErrorCode.PROVIDER_MODEL_NOT_FOUND:
        return BackendFault(f"model not found ({error.status})", unhealthy=model_listed)
    return None


def timeout_error(backend: str, timeout_s: float) -> ProviderError:
    """The call's overall timeout passed (however far the request got): retriable, like any timeout."""
    return ProviderError(
        f"{backend}: timed out after {timeout_s:g} s in all",
        backend=backend,
        retriable=True,
        code=ErrorCode.PROVIDER_TIMEOUT,
    )


def error_from_exception(backend: str, exc: Exception) -> ProviderError:
    """Map transport failures (timeouts, resets, refused connections): all retriable."""
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(
            f"{backend}: timed out ({type(exc).__name__})",
            backend=backend,
            retriable=True,
            code=ErrorCode.PROVIDER_TIMEOUT,
        )
    if isinstance(exc, httpx.TransportError):
        return ProviderError(
            f"{backend}: connection failed ({type(exc).__name__}: {exc})",
            backend=backend,
            retriable=True,
            code=ErrorCode.PROVIDER_UNREACHABLE,
        )
    return ProviderError(
        f"{backend}: unexpected {type(exc).__name__}: {exc}",
        backend=backend,
        retriable=False,
        code=ErrorCode.PROVIDER_PROTOCOL_ERROR,
    )

"""Per-request log context: a request's ids are bound once (``structlog.contextvars``) where it is decoded, and
every line logged while it is served, by any module, carries them without passing them around. Context
variables are per asyncio task, so concurrent requests never see each other's ids; :func:`request_scope`
also forgets them when the request is done, since one Faust actor serves its records one after another in one
task.

The outcome of each request is one line at ``info`` on :data:`OUTCOME_LOGGER` (:func:`log_outcome`). The
records are plain stdlib records (fields in ``extra``): how they are rendered (JSON, console) is the process's
choice (``streams.logs``), and library mode's host application gets ordinary records."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars

from schemas.events import ChatRequest, ChatResponse, DeadLetterReason

__all__ = [
    "CONTENT_FIELDS",
    "OUTCOME_LOGGER",
    "OutcomeKind",
    "bind",
    "content_fields",
    "log_outcome",
    "log_response",
    "request_scope",
    "trace_id_of",
]

#: the logger of outcome lines: ``logging.levels: {llm_router.outcome: warning}`` silences them
OUTCOME_LOGGER = "llm_router.outcome"
#: fields that hold what users wrote or got back: only ever logged with ``logging.log_prompts: true``
CONTENT_FIELDS = frozenset({"prompt", "answer", "messages", "content"})

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_outcomes = logging.getLogger(OUTCOME_LOGGER)


class OutcomeKind(StrEnum):
    """How a request's handling ended (the ``outcome`` field)."""

    ANSWERED = "answered"  # a provider's answer (or the same answer again, for a redelivered request)
    CACHED = "cached"  # answered from the cache
    FAILED = "failed"  # an error response, no dead letter (e.g. ``cache: only`` and nothing cached)
    DEAD_LETTERED = "dead_lettered"  # an error response and/or a dead letter
    RETRIED = "retried"  # this round ended in a delay topic; another round follows
    REPLAYED = "replayed"  # a dead letter re-driven to its class topic (``llm-router dlq replay``)


def bind(**fields: Any) -> None:
    """Bind the known ``fields`` (``None`` ones are left out) for the rest of the current scope."""
    known = {k: v for k, v in fields.items() if v is not None}
    if known:
        bind_contextvars(**known)


@contextmanager
def request_scope(**fields: Any) -> Iterator[None]:
    """Fields bound inside (``fields`` and any :func:`bind`) are forgotten on exit; what was bound outside
    (e.g. a worker id) is kept inside and restored after."""
    outer = get_contextvars()
    bind(**fields)
    try:
        yield
    finally:
        clear_contextvars()
        if outer:
            bind_contextvars(**outer)


def trace_id_of(headers: Sequence[tuple[str, bytes]]) -> str | None:
    """The trace id of the current span when tracing is on and one is current (the trace the request is really
    in: a new root when the header was bad, missing or duplicated); else of a W3C ``traceparent`` header;
    ``None`` without a valid one."""
    tracing = sys.modules.get("infra.tracing")
    if tracing is not None and tracing.active():
        current = tracing.trace.get_current_span().get_span_context()
        if not current.is_valid:  # no span yet: the header as the tracer will read it (else a new root trace)
            parent = tracing.extract(headers)
            current = tracing.trace.get_current_span(parent).get_span_context() if parent is not None else current
        return format(current.trace_id, "032x") if current.is_valid else None
    for key, value in headers:
        if key == "traceparent":
            match = _TRACEPARENT.match(value.decode("ascii", errors="replace").strip().lower())
            if match and match.group(1) != "0" * 32:
                return match.group(1)
    return None


def log_outcome(kind: OutcomeKind, **fields: Any) -> None:
    """The one outcome line of a request (the ids come from the context; ``None`` fields are left out)."""
    if _outcomes.isEnabledFor(logging.INFO):
        extra = {k: v for k, v in fields.items() if v is not None}
        _outcomes.info("outcome", extra={"outcome": kind.value, **extra})


def log_response(
    response: ChatResponse,
    dead_letter: DeadLetterReason | None = None,
    *,
    content: dict[str, Any] | None = None,
    **fields: Any,
) -> None:
    """The outcome line of a terminal ``response`` (``content``: from :func:`content_fields`, when enabled)."""
    if not _outcomes.isEnabledFor(logging.INFO):
        return  # the line is off: do not gather its fields
    if dead_letter is not None:
        kind = OutcomeKind.DEAD_LETTERED
    elif response.status != "ok":
        kind = OutcomeKind.FAILED
    else:
        kind = OutcomeKind.CACHED if response.cache_hit else OutcomeKind.ANSWERED
    error = response.error
    log_outcome(
        kind,
        route=response.routing.route if response.routing else None,
        model=response.model,
        backend=response.backend,
        cache_hit=response.cache_hit,
        latency_ms=round(response.latency.total_ms, 3),
        attempts=len(response.attempts) or None,
        tokens=response.usage.total_tokens or None,
        cost_usd=response.cost_usd or None,
        code=error.code if error else None,
        reason=dead_letter.value if dead_letter else None,
        error=error.message if error else None,
        **fields,
        **(content or {}),
    )


def content_fields(request: ChatRequest | None, response: ChatResponse | None) -> dict[str, Any]:
    """The prompt and the answer, for an outcome line when ``logging.log_prompts`` is on (pass them as the
    hooks left them, so a redaction hook applies)."""
    fields: dict[str, Any] = {}
    if request is not None:
        fields["prompt"] = [{"role": m.role, "content": m.content} for m in request.messages]
    if response is not None and response.content is not None:
        fields["answer"] = response.content
    return fields

"""The wire contract: how events look on Kafka. Topic names, header names, the default retry tiers and the JSON
codecs live here, once, so every layer (the pipeline, the client SDK, the DLQ tools, benchmarks) speaks the same
contract. Pure: no I/O. Decoding never raises anything but :class:`MessageError`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final, TypeVar

from pydantic import BaseModel, ValidationError

from schemas.errors import MessageError
from schemas.events import PRIORITIES, ChatRequest, Priority

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_RETRY_TIERS_S",
    "MAX_RETRY_ROUNDS",
    "REPLAY_HEADER",
    "RETRY_HEADER",
    "TENANT_ID",
    "TRACE_HEADERS",
    "Header",
    "TopicNames",
    "decode",
    "decode_request",
    "encode",
    "headers_dict",
    "valid_tenant",
]


class Header:
    """Kafka header names the router reads or writes. Plain ``str`` constants, not an enum: aiokafka requires
    header keys of exact type ``str``."""

    REQUEST_ID: Final = "request_id"
    CONTENT_TYPE: Final = "content-type"
    RETRY: Final = "llm-retry"  # RetryState of a request waiting in a delay topic
    RETRY_SIGNATURE: Final = "llm-retry-sig"  # the router's HMAC over the retry state and the record value
    SIGNATURE: Final = "llm-signature"  # the tenant's HMAC over the record value (schemas.signing)
    REPLAY: Final = "llm-replay"  # dead_letter_id of a replayed dead letter
    DEAD_LETTER_ID: Final = "dead_letter_id"
    REASON: Final = "reason"
    TRACEPARENT: Final = "traceparent"
    TRACESTATE: Final = "tracestate"


RETRY_HEADER = Header.RETRY
REPLAY_HEADER = Header.REPLAY
TRACE_HEADERS = (Header.TRACEPARENT, Header.TRACESTATE)
CONTENT_TYPE = b"application/json"
# delay topics llm.retry.<tier>s; a delay d waits in the largest tier <= d (RetrySettings.tiers_s defaults to it)
DEFAULT_RETRY_TIERS_S: tuple[float, ...] = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
#: rounds a request may wait for; beyond, it gives up (and ``2 ** (rounds - 1)`` in the backoff stays a float)
MAX_RETRY_ROUNDS = 1000
#: a tenant id: it names the tenant's own topics (``llm.responses.<tenant>``) and scopes its Redis keys, so it is
#: topic-name safe, has no ``.`` (Kafka confuses ``.`` and ``_`` in metric names) and no ``:`` (the key separator)
TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def valid_tenant(tenant: str) -> bool:
    """True when ``tenant`` may be a tenant id (see :data:`TENANT_ID`)."""
    return TENANT_ID.match(tenant) is not None


@dataclass(frozen=True)
class TopicNames:
    """All topic names of one deployment, derived from a prefix."""

    prefix: str = "llm"

    def requests(self, priority: Priority | str) -> str:
        return f"{self.prefix}.requests.{Priority(priority).value}"

    @property
    def all_requests(self) -> list[str]:
        return [self.requests(p) for p in PRIORITIES]

    @property
    def responses(self) -> str:
        return f"{self.prefix}.responses"

    @property
    def failures(self) -> str:
        return f"{self.prefix}.failures"

    def responses_for(self, tenant: str) -> str:
        """A tenant's own response topic (deployments with per-tenant topics), e.g. ``llm.responses.acme``."""
        return f"{self.responses}.{tenant}"

    def failures_for(self, tenant: str) -> str:
        """A tenant's own failure topic (deployments with per-tenant topics), e.g. ``llm.failures.acme``."""
        return f"{self.failures}.{tenant}"

    def is_own(self, topic: str) -> bool:
        """True for every topic of this deployment (requests, responses, retries, health, tenants' topics...)."""
        return topic.startswith(f"{self.prefix}.")

    @property
    def health(self) -> str:
        return f"{self.prefix}.health"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}.deadletter"

    def retry(self, tier_s: float) -> str:
        """Delay topic of one retry tier, e.g. ``llm.retry.5s``."""
        return f"{self.prefix}.retry.{tier_s:g}s"

    def retry_tier(self, tiers_s: list[float], delay_s: float) -> str:
        """The delay topic a wait of ``delay_s`` goes to: the largest tier not above it."""
        chosen = tiers_s[0]
        for tier in tiers_s:
            if tier <= delay_s:
                chosen = tier
        return self.retry(chosen)

    def priority_of(self, topic: str) -> Priority | None:
        for p in PRIORITIES:
            if topic == self.requests(p):
                return p
        return None


M = TypeVar("M", bound=BaseModel)


def encode(event: BaseModel) -> bytes:
    """Serialise an event to compact JSON bytes."""
    return event.model_dump_json(exclude_none=False).encode("utf-8")


def _describe(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def decode(model: type[M], data: bytes | str | None) -> M:
    """Parse ``data`` as ``model``; malformed input raises :class:`MessageError` with a precise reason."""
    if data is None or len(data) == 0:
        raise MessageError("empty message body", code="empty_message")
    try:
        payload = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageError(f"body is not valid UTF-8 JSON: {exc}", code="invalid_json") from None
    if not isinstance(payload, dict):
        raise MessageError(f"body must be a JSON object, got {type(payload).__name__}", code="invalid_json")
    request_id = payload.get("request_id") if isinstance(payload.get("request_id"), str) else None
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise MessageError(
            f"{model.__name__} failed validation: {_describe(exc)}", code="schema_invalid", request_id=request_id
        ) from None


def decode_request(data: bytes | str | None) -> ChatRequest:
    """Decode a :class:`ChatRequest`."""
    return decode(ChatRequest, data)


def headers_dict(headers: object) -> dict[str, bytes]:
    """Normalise Kafka headers (list of pairs or mapping) to a dict; later duplicates win."""
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, dict) else headers
    out: dict[str, bytes] = {}
    for name, value in items:  # type: ignore[attr-defined]
        out[str(name)] = value if isinstance(value, bytes) else str(value).encode()
    return out

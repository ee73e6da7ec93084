"""The wire contract: how events look on Kafka. Topic names, header names, the default retry tiers and the JSON
codecs live here, once, so every layer (the pipeline, the client SDK, the DLQ tools, benchmarks) speaks the same
contract. Pure: no I/O. Decoding never raises anything but :class:`MessageError`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, TypeVar

from pydantic import BaseModel, ValidationError

from schemas.errors import MessageError
from schemas.events import PRIORITIES, ChatRequest, DeadLetter, ErrorCode, Priority

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_RETRY_TIERS_S",
    "MAX_RETRY_ROUNDS",
    "REPLAY_HEADER",
    "RETRY_HEADER",
    "TENANT_ID",
    "TRACE_HEADERS",
    "EventKind",
    "Header",
    "TopicNames",
    "bounded_dead_letter",
    "decode",
    "decode_request",
    "encode",
    "headers_dict",
    "is_chunk",
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
    EVENT: Final = "llm-event"  # on a reply topic: "chunk" marks a ChatChunk (see EventKind)


class EventKind:
    """Values of the ``llm-event`` header (plain bytes, as Kafka headers are); a record without it is a
    ChatResponse (as every record on a reply topic was before streaming)."""

    CHUNK: Final = b"chunk"


def is_chunk(headers: Iterable[tuple[str, bytes]] | None) -> bool:
    """Whether a reply-topic record is a ChatChunk rather than a ChatResponse. Readers must look at the header: a
    chunk's JSON also validates as an empty "ok" ChatResponse."""
    return any(k == Header.EVENT and v == EventKind.CHUNK for k, v in headers or ())


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
    def cancels(self) -> str:
        """Requesters' cancels (:class:`schemas.events.CancelRequest`), read by every worker."""
        return f"{self.prefix}.cancels"

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


def _parse(data: bytes | str) -> object:
    """``json.loads``, whose every failure is a :class:`MessageError`: hostile input also raises RecursionError
    (deep nesting) and ValueError (an integer beyond Python's 4300-digit conversion limit)."""
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageError(f"body is not valid UTF-8 JSON: {exc}", code=ErrorCode.INVALID_JSON) from None
    except RecursionError:
        raise MessageError("body is nested too deeply to parse", code=ErrorCode.JSON_TOO_DEEP) from None
    except ValueError as exc:  # int(str) over sys.get_int_max_str_digits(); the only other ValueError left
        raise MessageError(f"body has a number with too many digits: {exc}", code=ErrorCode.NUMBER_TOO_LARGE) from None


def decode(model: type[M], data: bytes | str | None) -> M:
    """Parse ``data`` as ``model``; malformed input raises :class:`MessageError` with a precise reason."""
    if data is None or len(data) == 0:
        raise MessageError("empty message body", code=ErrorCode.EMPTY_MESSAGE)
    payload = _parse(data)
    if not isinstance(payload, dict):
        raise MessageError(f"body must be a JSON object, got {type(payload).__name__}", code=ErrorCode.INVALID_JSON)
    request_id = payload.get("request_id") if isinstance(payload.get("request_id"), str) else None
    tenant = payload.get("tenant") if isinstance(payload.get("tenant"), str) else None
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise MessageError(
            f"{model.__name__} failed validation: {_describe(exc)}",
            code=ErrorCode.SCHEMA_INVALID,
            request_id=request_id,
            tenant=tenant,
        ) from None
    except RecursionError:  # pydantic walks nested values that json.loads could still parse
        raise MessageError("body is nested too deeply to validate", code=ErrorCode.JSON_TOO_DEEP) from None


#: longest ``error`` text a dead letter carries (an exception message can be anything)
MAX_LETTER_ERROR_CHARS = 2_000


def bounded_dead_letter(letter: DeadLetter, original: bytes, *, limit: int) -> DeadLetter:
    """``letter`` carrying ``original`` so that it encodes to at most ``limit`` bytes (a record the producer and
    the broker accept): the whole original when it fits, else its longest prefix that does, always with the
    SHA-256 and length of the whole. Headers and key go too when even an empty original does not fit.

    Truncation rather than a Redis copy by reference: the dead-letter topic stays self-contained (no second
    store to keep, expire, or lose), and a truncated letter still says which request it was and why it failed."""
    letter = letter.model_copy(
        update={
            "error": letter.error[:MAX_LETTER_ERROR_CHARS],
            "original_b64": DeadLetter.b64(original),
            "original_sha256": hashlib.sha256(original).hexdigest(),
            "original_len": len(original),
            "original_truncated": False,
        }
    )
    if len(encode(letter)) <= limit:
        return letter
    letter = letter.model_copy(update={"original_b64": "", "original_truncated": True})
    room = limit - len(encode(letter))
    if room < 0:  # the headers or the key alone are too large: the digest still identifies the record
        letter = letter.model_copy(update={"headers": [], "key_b64": None})
        room = limit - len(encode(letter))
    kept = max(room, 0) // 4 * 3  # base64: 4 characters per 3 bytes, no escaping in JSON
    return letter.model_copy(update={"original_b64": DeadLetter.b64(original[:kept])})


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

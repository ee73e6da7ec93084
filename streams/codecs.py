"""JSON codecs for events on the wire. Decoding never raises anything but :class:`MessageError`."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from schemas.errors import MessageError
from schemas.events import ChatRequest

__all__ = ["CONTENT_TYPE", "decode", "decode_request", "encode", "headers_dict"]

CONTENT_TYPE = b"application/json"
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

"""The OpenAI chat-completions format at the HTTP front door, mapped to and from the router's events.

Pure data and mapping (no I/O): the door (:mod:`streams.frontdoor`) parses a body with :func:`parse_chat_body`,
turns it into a :class:`ChatRequest` with :func:`to_chat_request`, and answers with :func:`to_completion` or the
error body of an :class:`ApiError`. What the router cannot carry yet (tools, ``n`` > 1, streaming, sampling knobs)
is a 400 naming the parameter, never silently dropped. A router error code becomes an HTTP status through one
table, :data:`ERROR_STATUS`."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.errors import RouterError
from schemas.events import CachePolicy, ChatMessage, ChatRequest, ChatResponse, ErrorCode, Priority

__all__ = [
    "ERROR_STATUS",
    "ApiError",
    "ApiErrorType",
    "ChatBody",
    "DoorCode",
    "error_of_response",
    "parse_chat_body",
    "to_chat_request",
    "to_completion",
]


class ApiErrorType(StrEnum):
    """``error.type`` of an OpenAI-style error body."""

    INVALID_REQUEST = "invalid_request_error"
    AUTHENTICATION = "authentication_error"
    PERMISSION = "permission_error"
    NOT_FOUND = "not_found_error"
    RATE_LIMIT = "rate_limit_error"
    TIMEOUT = "timeout_error"
    UNAVAILABLE = "service_unavailable_error"
    SERVER = "server_error"


class DoorCode(StrEnum):
    """``error.code`` of a refusal decided by the door itself (the router's own codes are :class:`ErrorCode`)."""

    INVALID_API_KEY = "invalid_api_key"
    MODEL_NOT_ALLOWED = "model_not_allowed"
    ROUTE_NOT_ALLOWED = "route_not_allowed"
    PRIORITY_NOT_ALLOWED = "priority_not_allowed"
    MODEL_NOT_FOUND = "model_not_found"
    ROUTE_NOT_FOUND = "route_not_found"
    INVALID_JSON = "invalid_json"
    INVALID_VALUE = "invalid_value"
    UNSUPPORTED_PARAMETER = "unsupported_parameter"
    STREAMING_UNSUPPORTED = "streaming_not_supported"
    RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
    BODY_TOO_LARGE = "body_too_large"
    TIMEOUT = "timeout"
    UNAVAILABLE = "service_unavailable"
    UNKNOWN_PATH = "unknown_url"
    METHOD_NOT_ALLOWED = "method_not_allowed"


class ApiError(RouterError):
    """A refusal the door answers with ``status`` and an OpenAI-style body; ``retry_after_s``: a Retry-After."""

    def __init__(
        self,
        status: int,
        kind: ApiErrorType,
        code: DoorCode | ErrorCode | str,
        message: str,
        *,
        param: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, code=str(code))
        self.status, self.kind, self.param, self.retry_after_s = status, kind, param, retry_after_s

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": str(self.kind), "param": self.param, "code": self.code}}


_BAD = (400, ApiErrorType.INVALID_REQUEST)
_INTERNAL = (500, ApiErrorType.SERVER)
_UPSTREAM = (502, ApiErrorType.SERVER)
_BUSY = (503, ApiErrorType.UNAVAILABLE)
_LATE = (504, ApiErrorType.TIMEOUT)

#: every code the router emits -> (HTTP status, error type); a code not listed (from a newer router) is a 502
ERROR_STATUS: dict[ErrorCode, tuple[int, ApiErrorType]] = {
    ErrorCode.INVALID_MESSAGE: _BAD,
    ErrorCode.EMPTY_MESSAGE: _BAD,
    ErrorCode.INVALID_JSON: _BAD,
    ErrorCode.SCHEMA_INVALID: _BAD,
    ErrorCode.RETRY_STATE_INVALID: _INTERNAL,
    ErrorCode.RECORD_TOO_LARGE: (413, ApiErrorType.INVALID_REQUEST),
    ErrorCode.JSON_TOO_DEEP: _BAD,
    ErrorCode.NUMBER_TOO_LARGE: _BAD,
    ErrorCode.RESPONSE_TOO_LARGE: _UPSTREAM,
    ErrorCode.UNAUTHENTICATED: _INTERNAL,  # the door signs every request: a refusal is the door's misconfiguration
    ErrorCode.INVALID_TENANT: _BAD,
    ErrorCode.REPLY_TO_FORBIDDEN: _INTERNAL,  # likewise: the door's reply topic is not in the tenant's prefixes
    ErrorCode.REPLY_TO_MISSING: _INTERNAL,
    ErrorCode.NO_ROUTE: (404, ApiErrorType.NOT_FOUND),
    ErrorCode.NOT_ENTITLED: (403, ApiErrorType.PERMISSION),
    ErrorCode.MAX_TOKENS_EXCEEDED: _BAD,
    ErrorCode.CACHE_MISS: (404, ApiErrorType.NOT_FOUND),
    ErrorCode.CACHE_ERROR: _BUSY,
    ErrorCode.SATURATED_WAIT: _BUSY,
    ErrorCode.RATE_LIMITED_WAIT: (429, ApiErrorType.RATE_LIMIT),
    ErrorCode.ALL_BACKENDS_OPEN: _BUSY,
    ErrorCode.PROVIDER_ERROR: _UPSTREAM,
    ErrorCode.PROVIDER_REJECTED: _BAD,  # the provider said the request itself is wrong
    ErrorCode.PROVIDER_AUTH: _UPSTREAM,
    ErrorCode.PROVIDER_MODEL_NOT_FOUND: _UPSTREAM,
    ErrorCode.PROVIDER_UNAVAILABLE: _BUSY,
    ErrorCode.PROVIDER_OVERLOADED: _BUSY,
    ErrorCode.PROVIDER_TRANSIENT: _UPSTREAM,
    ErrorCode.PROVIDER_TIMEOUT: _LATE,
    ErrorCode.PROVIDER_UNREACHABLE: _UPSTREAM,
    ErrorCode.PROVIDER_PROTOCOL_ERROR: _UPSTREAM,
    ErrorCode.RATE_LIMITED: (429, ApiErrorType.RATE_LIMIT),
    ErrorCode.DEADLINE_EXPIRED: _LATE,
    ErrorCode.RETRIES_EXHAUSTED: _BUSY,
    ErrorCode.INTERNAL_ERROR: _INTERNAL,
    ErrorCode.CONFIG_INVALID: _INTERNAL,
    ErrorCode.PUBLISH_FAILED: _INTERNAL,
    ErrorCode.ROUTER_ERROR: _INTERNAL,
}
#: a router-decided 429 carries no wait; the client backs off this long
ROUTER_RETRY_AFTER_S = 1.0


def error_of_response(response: ChatResponse) -> ApiError:
    """The HTTP error of an error response (``status == 'error'``)."""
    info = response.error
    code = info.code if info is not None else ErrorCode.INTERNAL_ERROR
    message = info.message if info is not None else "the router answered with an error and no detail"
    try:
        status, kind = ERROR_STATUS.get(ErrorCode(code), _UPSTREAM)
    except ValueError:  # a code from a newer router
        status, kind = _UPSTREAM
    retry_after = ROUTER_RETRY_AFTER_S if status == 429 else None
    return ApiError(status, kind, code, message, retry_after_s=retry_after)


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: str


class _Message(BaseModel):
    """One OpenAI message as the router can carry it: text content only (tool calls come with issue 17 item 3)."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[_Part]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


#: accepted parameters set to their no-op value (clients such as LangChain send them explicitly)
_NEUTRAL: dict[str, object] = {
    "n": 1,
    "top_p": 1,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "logprobs": False,
    "store": False,
    "response_format": {"type": "text"},
}


class ChatBody(BaseModel):
    """The body of ``POST /v1/chat/completions`` as far as the router maps it; ``route`` and ``cache`` are
    extensions (``extra_body`` in the OpenAI client)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    messages: list[_Message] = Field(min_length=1)
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    stream: bool | None = False
    user: str | None = Field(default=None, max_length=256)
    metadata: dict[str, str] | None = None
    route: str | None = None
    cache: CachePolicy | None = None


def parse_chat_body(raw: bytes) -> ChatBody:
    """The body, or a 400 naming what is wrong (``param``: where, as OpenAI names it)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, ApiErrorType.INVALID_REQUEST, DoorCode.INVALID_JSON, f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, ApiErrorType.INVALID_REQUEST, DoorCode.INVALID_JSON, "body must be a JSON object")
    try:
        body = ChatBody.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None
    _refuse_unmapped(body)
    return body


def _invalid(exc: ValidationError) -> ApiError:
    first = exc.errors()[0]
    param = _param(first["loc"])
    return ApiError(400, ApiErrorType.INVALID_REQUEST, DoorCode.INVALID_VALUE, f"{param}: {first['msg']}", param=param)


def _param(loc: tuple[int | str, ...]) -> str:
    """``messages[0].content`` for pydantic's ``('messages', 0, 'content', 'str')`` (union branches left out)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in _UNION_BRANCHES:
            out += f".{part}" if out else part
    return out


_UNION_BRANCHES = frozenset({"str", "list[_Part]"})


def _refuse_unmapped(body: ChatBody) -> None:
    if body.stream:
        raise ApiError(
            400,
            ApiErrorType.INVALID_REQUEST,
            DoorCode.STREAMING_UNSUPPORTED,
            "streaming not yet supported: send stream=false",
            param="stream",
        )
    for name, value in (body.model_extra or {}).items():
        if value is None or (name in _NEUTRAL and value == _NEUTRAL[name]):
            continue
        raise ApiError(
            400,
            ApiErrorType.INVALID_REQUEST,
            DoorCode.UNSUPPORTED_PARAMETER,
            f"{name!r} is not supported by this router yet (it would be ignored; remove it)",
            param=name,
        )


def to_chat_request(
    body: ChatBody, *, request_id: str, tenant: str, priority: Priority, deadline: datetime
) -> ChatRequest:
    """The request event of ``body``; a value the router refuses (e.g. ``temperature`` 3) is a 400."""
    metadata = dict(body.metadata or {})
    if body.user is not None:
        metadata["user"] = body.user
    fields: dict[str, Any] = {
        "request_id": request_id,
        "tenant": tenant,
        "priority": priority,
        "messages": [
            ChatMessage(role="system" if m.role == "developer" else m.role, content=m.text()) for m in body.messages
        ],
        "model": body.model,
        "route": body.route,
        "max_tokens": body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens,
        "temperature": body.temperature,
        "deadline": deadline,
        "metadata": metadata,
    }
    if body.cache is not None:
        fields["cache"] = body.cache
    try:
        return ChatRequest(**fields)
    except ValidationError as exc:
        raise _invalid(exc) from None


def to_completion(response: ChatResponse) -> dict[str, Any]:
    """The ``chat.completion`` object of an ok response. Its ``id`` comes from the request id, so a retry with
    the same Idempotency-Key gets the very same body."""
    usage = response.usage
    return {
        "id": f"chatcmpl-{response.request_id}",
        "object": "chat.completion",
        "created": int(response.created_at.timestamp()),
        "model": response.model or "",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": response.content or ""},
                "finish_reason": response.finish_reason or "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        },
        "system_fingerprint": None,
    }

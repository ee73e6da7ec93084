"""The OpenAI chat-completions format at the HTTP front door, mapped to and from the router's events.

Pure data and mapping (no I/O): the door (:mod:`streams.frontdoor`) parses a body with :func:`parse_chat_body`,
turns it into a :class:`ChatRequest` with :func:`to_chat_request`, and answers with :func:`to_completion` or the
error body of an :class:`ApiError`. What the router cannot carry yet (sampling knobs such as ``top_p``, logprobs)
is a 400 naming the parameter, never silently dropped. A router error code becomes an HTTP status through one
table, :data:`ERROR_STATUS`."""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.errors import RouterError
from schemas.events import (
    CachePolicy,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    Choice,
    ErrorCode,
    Priority,
    ResponseFormat,
    Tool,
    ToolCall,
    ToolChoice,
)

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
    RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
    BODY_TOO_LARGE = "body_too_large"
    TIMEOUT = "timeout"
    UNAVAILABLE = "service_unavailable"
    UNKNOWN_PATH = "unknown_url"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CLIENT_CLOSED = "client_closed_request"  # the client disconnected before the answer (499, never read)


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
    ErrorCode.CANCELLED: (499, ApiErrorType.INVALID_REQUEST),  # nginx's "client closed request": withdrawn
    ErrorCode.CONFIG_INVALID: _INTERNAL,
    ErrorCode.PUBLISH_FAILED: _INTERNAL,
    ErrorCode.ROUTER_ERROR: _INTERNAL,
    ErrorCode.UNSUPPORTED_PARAMETER: _BAD,  # the chosen provider cannot map a parameter (the message names it)
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
    named = _NAMED_PARAM.search(message) if code == ErrorCode.UNSUPPORTED_PARAMETER else None
    return ApiError(status, kind, code, message, retry_after_s=retry_after, param=named.group(1) if named else None)


#: how an adapter's unsupported_parameter message names the parameter (infra.providers.tool_mapping.unsupported)
_NAMED_PARAM = re.compile(r"parameter '([A-Za-z_]+)'")


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: str


class _Function(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: str = "{}"


class _ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    type: Literal["function"] = "function"
    function: _Function


class _Message(BaseModel):
    """One OpenAI message as the router can carry it: text parts, an assistant's tool calls, a tool's result."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[_Part] | None = None
    tool_calls: list[_ToolCall] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> _Message:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id it answers")
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError("content is required (it may be null only for an assistant's tool calls)")
        return self

    def text(self) -> str:
        if self.content is None:
            return ""
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)

    def event(self) -> ChatMessage:
        calls = [ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments) for c in self.tool_calls or ()]
        return ChatMessage(
            role="system" if self.role == "developer" else self.role,
            content=self.text(),
            tool_calls=calls or None,
            tool_call_id=self.tool_call_id,
        )


class _NamedFunction(BaseModel):
    name: str


class _NamedChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["function"]
    function: _NamedFunction


class _JsonSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64)
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class _ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: _JsonSchema | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> _ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("type json_schema needs json_schema")
        return self


#: accepted parameters set to their no-op value (clients such as LangChain send them explicitly)
_NEUTRAL: dict[str, object] = {
    "top_p": 1,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "logprobs": False,
    "store": False,
    "parallel_tool_calls": True,  # every mapped provider may answer with several tool calls
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
    stream_options: dict[str, Any] | None = None
    user: str | None = Field(default=None, max_length=256)
    metadata: dict[str, str] | None = None
    route: str | None = None
    cache: CachePolicy | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["auto", "none", "required"] | _NamedChoice | None = None
    response_format: _ResponseFormat | None = None
    n: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None


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


_UNION_BRANCHES = frozenset({"str", "list[_Part]", "list[str]", "_NamedChoice", "literal['auto','none','required']"})


def _refuse_unmapped(body: ChatBody) -> None:
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
        "messages": [m.event() for m in body.messages],
        "model": body.model,
        "route": body.route,
        "max_tokens": body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens,
        "temperature": body.temperature,
        "deadline": deadline,
        "metadata": metadata,
        "stream": bool(body.stream),
    }
    if body.cache is not None:
        fields["cache"] = body.cache
    fields.update(_generation(body))
    try:
        return ChatRequest(**fields)
    except ValidationError as exc:
        raise _invalid(exc) from None


def _generation(body: ChatBody) -> dict[str, Any]:
    """Tools, response format, n, stop, seed and user in the event's terms (neutral values left out, so a request
    that sends ``n: 1`` is the same request, and the same cache key, as one that does not)."""
    fields: dict[str, Any] = {"tools": body.tools or None, "seed": body.seed, "user": body.user}
    choice = body.tool_choice
    if isinstance(choice, _NamedChoice):
        fields["tool_choice"] = ToolChoice(mode="function", name=choice.function.name)
    elif choice is not None:
        fields["tool_choice"] = ToolChoice(mode=choice)
    fmt = body.response_format
    if fmt is not None and fmt.type != "text":
        spec = fmt.json_schema
        fields["response_format"] = ResponseFormat(
            type=fmt.type,
            name=spec.name if spec else None,
            json_schema=spec.schema_ if spec else None,
            strict=spec.strict if spec else None,
        )
    if body.n is not None and body.n != 1:
        fields["n"] = body.n
    if body.stop:
        fields["stop"] = [body.stop] if isinstance(body.stop, str) else body.stop
    return fields


def _message(choice: Choice) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": choice.content or ""}
    if choice.tool_calls:
        message["content"] = choice.content or None
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in choice.tool_calls
        ]
    return message


def to_completion(response: ChatResponse) -> dict[str, Any]:
    """The ``chat.completion`` object of an ok response. Its ``id`` comes from the request id, so a retry with
    the same Idempotency-Key gets the very same body."""
    usage = response.usage
    choices = response.choices or [
        Choice(content=response.content, tool_calls=response.tool_calls, finish_reason=response.finish_reason)
    ]
    return {
        "id": f"chatcmpl-{response.request_id}",
        "object": "chat.completion",
        "created": int(response.created_at.timestamp()),
        "model": response.model or "",
        "choices": [
            {"index": i, "message": _message(c), "finish_reason": c.finish_reason or "stop", "logprobs": None}
            for i, c in enumerate(choices)
        ],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        },
        "system_fingerprint": None,
    }

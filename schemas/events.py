"""Event models that travel on Kafka (JSON, versioned by ``schema_version``)."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "PRIORITIES",
    "SCHEMA_VERSION",
    "Attempt",
    "CachePolicy",
    "CancelRequest",
    "ChatChunk",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "DeadLetter",
    "DeadLetterReason",
    "ErrorCode",
    "ErrorInfo",
    "FailureEvent",
    "HealthEvent",
    "Latency",
    "Priority",
    "ResponseFormat",
    "RetryState",
    "RoutingDecision",
    "Stage",
    "Tool",
    "ToolCall",
    "ToolChoice",
    "ToolFunction",
    "Usage",
    "new_id",
    "utcnow",
]

SCHEMA_VERSION = 1
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def utcnow() -> datetime:
    """Timezone-aware current UTC time."""
    return datetime.now(UTC)


def new_id() -> str:
    """A fresh random identifier (32 hex characters)."""
    return uuid.uuid4().hex


class Priority(StrEnum):
    """Priority classes, highest first."""

    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    BATCH = "batch"

    @property
    def rank(self) -> int:
        """0 for the highest class."""
        return PRIORITIES.index(self)


PRIORITIES: tuple[Priority, ...] = (Priority.CRITICAL, Priority.HIGH, Priority.NORMAL, Priority.BATCH)


class CachePolicy(StrEnum):
    """Per-request cache behaviour."""

    USE = "use"
    BYPASS = "bypass"
    REFRESH = "refresh"
    ONLY = "only"


class DeadLetterReason(StrEnum):
    """Why a message ended in the dead-letter topic."""

    INVALID_MESSAGE = "invalid_message"
    NO_ROUTE = "no_route"
    PROVIDER_REJECTED = "provider_rejected"
    RETRIES_EXHAUSTED = "retries_exhausted"
    DEADLINE_EXPIRED = "deadline_expired"
    INTERNAL_ERROR = "internal_error"
    UNAUTHENTICATED = "unauthenticated"  # the tenant's signature is missing or wrong (never served)
    FORBIDDEN = "forbidden"  # authenticated, but asked for what the tenant may not (e.g. a foreign reply_to)
    UNDELIVERABLE = "undeliverable"  # served, but the answer cannot be published (e.g. over the record limit)


class Stage(StrEnum):
    """Where a failure happened (``FailureEvent.stage``)."""

    DECODE = "decode"
    ROUTE = "route"
    PROVIDER = "provider"
    DEADLINE = "deadline"
    INTERNAL = "internal"
    RETRY = "retry"


class ErrorCode(StrEnum):
    """Every code this router emits (``ErrorInfo.code``, ``FailureEvent.code``, ``Attempt.error_code``).
    Those fields still accept any string when read, so codes added by a newer router decode here too."""

    # decoding an inbound record (MessageError)
    INVALID_MESSAGE = "invalid_message"
    EMPTY_MESSAGE = "empty_message"
    INVALID_JSON = "invalid_json"
    SCHEMA_INVALID = "schema_invalid"
    RETRY_STATE_INVALID = "retry_state_invalid"
    RECORD_TOO_LARGE = "record_too_large"  # key + value + headers over worker.max_request_bytes (not parsed)
    JSON_TOO_DEEP = "json_too_deep"  # nesting beyond the parser's recursion limit
    NUMBER_TOO_LARGE = "number_too_large"  # an integer beyond Python's int conversion limit (4300 digits)
    RESPONSE_TOO_LARGE = "response_too_large"  # the provider's answer is over the record limit: not publishable
    # the trust boundary (issue 12): who sent it, and where its answer may go
    UNAUTHENTICATED = "unauthenticated"
    INVALID_TENANT = "invalid_tenant"
    REPLY_TO_FORBIDDEN = "reply_to_forbidden"
    REPLY_TO_MISSING = "reply_to_missing"
    # routing and the cache
    NO_ROUTE = "no_route"
    NOT_ENTITLED = "not_entitled"  # the tenant may not use that model or route (issue 12)
    MAX_TOKENS_EXCEEDED = "max_tokens_exceeded"  # above the model_caps of every candidate
    CACHE_MISS = "cache_miss"
    CACHE_ERROR = "cache_error"
    # a round that called no provider and waits: why
    SATURATED_WAIT = "saturated_wait"
    RATE_LIMITED_WAIT = "rate_limited_wait"
    ALL_BACKENDS_OPEN = "all_backends_open"
    # a provider call (ProviderError)
    PROVIDER_ERROR = "provider_error"
    PROVIDER_REJECTED = "provider_rejected"
    PROVIDER_AUTH = "provider_auth"  # 401/403: the backend refused its own credentials (fail over, circuit opens)
    PROVIDER_MODEL_NOT_FOUND = "provider_model_not_found"  # 404: the backend lacks the model (fail over)
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    PROVIDER_OVERLOADED = "provider_overloaded"
    PROVIDER_TRANSIENT = "provider_transient"
    PROVIDER_TIMEOUT = "provider_timeout"
    PROVIDER_UNREACHABLE = "provider_unreachable"
    PROVIDER_PROTOCOL_ERROR = "provider_protocol_error"
    RATE_LIMITED = "rate_limited"
    # terminal outcomes decided by the router
    DEADLINE_EXPIRED = "deadline_expired"
    RETRIES_EXHAUSTED = "retries_exhausted"
    INTERNAL_ERROR = "internal_error"
    CANCELLED = "cancelled"  # the requester withdrew the request (CancelRequest: a client left the front door)
    # raised, not published
    CONFIG_INVALID = "config_invalid"
    PUBLISH_FAILED = "publish_failed"  # WorkerStop: an outcome could not be published; the worker stops
    ROUTER_ERROR = "router_error"
    # the request asks for what the chosen provider cannot do (a tool format, n > 1, seed...): never dropped
    UNSUPPORTED_PARAMETER = "unsupported_parameter"


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_version: int = SCHEMA_VERSION

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if not 1 <= value <= SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {value}; this router reads 1..{SCHEMA_VERSION}")
        return value


class ToolCall(BaseModel):
    """A function call the model asked for; ``arguments`` is JSON text, as OpenAI carries it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=128)
    arguments: str = Field(default="{}", max_length=1_000_000)


class ChatMessage(BaseModel):
    """One chat turn: text, an assistant's ``tool_calls``, or a ``tool`` result answering ``tool_call_id``."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "tool"]
    content: str = Field(default="", max_length=1_000_000)
    tool_calls: list[ToolCall] | None = Field(default=None, max_length=128)
    tool_call_id: str | None = Field(default=None, max_length=200)


class ToolFunction(BaseModel):
    """A function the model may call; ``parameters`` is its JSON Schema."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = Field(default=None, max_length=10_000)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["function"] = "function"
    function: ToolFunction


class ToolChoice(BaseModel):
    """``auto``/``none``/``required``, or ``function`` with the ``name`` the model must call."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "none", "required", "function"] = "auto"
    name: str | None = None


class ResponseFormat(BaseModel):
    """JSON mode (``json_object``) or a JSON Schema the answer must follow (``json_schema``)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "json_object", "json_schema"]
    name: str | None = Field(default=None, max_length=64)
    json_schema: dict[str, Any] | None = None
    strict: bool | None = None


IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:@/-]{1,128}$"
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN)]


def valid_identifier(value: object) -> bool:
    """Whether ``value`` is an id a request may carry (``request_id``, ``tenant``), e.g. when its body failed."""
    return isinstance(value, str) and re.fullmatch(IDENTIFIER_PATTERN, value) is not None


class _Outbound(_Event):
    """Events the router publishes: readers ignore fields they do not know, so a newer router can add fields
    without breaking older clients (inbound requests stay strict: a typo there is an error)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ChatRequest(_Event):
    """A chat completion request produced by an application."""

    request_id: Identifier = Field(default_factory=new_id)
    tenant: Identifier = "default"
    priority: Priority = Priority.NORMAL
    messages: list[ChatMessage] = Field(min_length=1, max_length=1024)
    model: str | None = Field(default=None, max_length=200, description="model name or alias hint")
    route: str | None = Field(default=None, max_length=200, description="named route, overrides the model hint")
    max_tokens: int | None = Field(default=None, gt=0, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    deadline: datetime | None = Field(default=None, description="absolute time after which no answer is useful")
    cache: CachePolicy = CachePolicy.USE
    metadata: dict[str, str] = Field(default_factory=dict)
    reply_to: str | None = Field(default=None, description="topic for the response instead of the default")
    stream: bool = Field(default=False, description="also publish the answer's text as ChatChunk events")
    created_at: datetime = Field(default_factory=utcnow)
    # OpenAI generation parameters (issue 17): each adapter maps them or refuses with unsupported_parameter
    tools: list[Tool] | None = Field(default=None, max_length=128)
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    n: int | None = Field(default=None, ge=1, le=16)
    stop: list[str] | None = Field(default=None, max_length=16)
    seed: int | None = None
    user: str | None = Field(default=None, max_length=256)

    @field_validator("reply_to")
    @classmethod
    def _valid_topic(cls, value: str | None) -> str | None:
        if value is not None and not _TOPIC_NAME.match(value):
            raise ValueError("reply_to must be a valid Kafka topic name")
        return value

    @field_validator("deadline", "created_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def prompt_text(self) -> str:
        """The user-visible text of the conversation (used for logs, routing and caching)."""
        return "\n".join(m.content for m in self.messages if m.role == "user")


class CancelRequest(_Event):
    """The requester withdraws a request (``<prefix>.cancels``): the front door sends one when its client
    disconnects or its deadline passes, the SDK on :meth:`RouterClient.cancel`. Every worker reads every cancel; the
    one serving the request stops the provider call and answers ``cancelled``; one that has not started it yet
    answers so when it comes. Signed like a request in signed tenancy: a tenant cancels only its own requests."""

    request_id: Identifier
    tenant: Identifier = "default"
    reason: str = Field(default="client_disconnected", max_length=200)
    at: datetime = Field(default_factory=utcnow)

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Usage(BaseModel):
    """Token usage reported by the provider."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = Field(default=0, description="of prompt_tokens, served from the provider's prompt cache")

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Latency(BaseModel):
    """Where the time went, in milliseconds."""

    queue_ms: float = Field(
        default=0.0, description="first consumed by the router -> provider slot (scheduler and retry waits)"
    )
    slot_wait_ms: float = Field(default=0.0, description="the part of queue_ms spent waiting for a slot")
    capacity_wait_ms: float = Field(
        default=0.0, description="waiting for a backend's concurrency cap (shared by all workers) to free a call"
    )
    cache_ms: float = 0.0
    provider_ms: float = 0.0
    total_ms: float = 0.0


class ErrorInfo(BaseModel):
    """A failure in a form clients can act on."""

    code: ErrorCode | str  # any str on read: forward compatible with codes from newer routers
    message: str
    retriable: bool = False


class Attempt(BaseModel):
    """One provider call made for a request."""

    backend: str
    model: str
    ok: bool
    error_code: ErrorCode | str | None = None
    http_status: int | None = None
    latency_ms: float = 0.0
    at: datetime = Field(default_factory=utcnow)


class RoutingDecision(BaseModel):
    """How the router chose: the route, its strategy, the candidates in order and why any were passed over."""

    route: str | None = Field(default=None, description="route name; None = the model was used directly")
    strategy: str = "priority-failover"
    reason: str = ""
    considered: list[str] = Field(default_factory=list, description="backend/model, in the order tried")
    skipped: dict[str, str] = Field(default_factory=dict, description="backend/model -> why it was passed over")
    served: str | None = Field(default=None, description="backend/model (config names) that answered")
    config_version: str | None = Field(default=None, description="version (content hash) of the config it ran under")


class Choice(BaseModel):
    """One of several answers (``n`` > 1); the first is also the response's own content."""

    index: int = 0
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    finish_reason: str | None = None


class ChatResponse(_Outbound):
    """The terminal answer to a request: ``status='ok'`` with content, or ``'error'`` with ``error``."""

    request_id: str
    tenant: str = "default"
    priority: Priority = Priority.NORMAL
    status: Literal["ok", "error"] = "ok"
    model: str | None = None
    provider: str | None = None
    backend: str | None = None
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    choices: list[Choice] | None = Field(default=None, description="every answer when n > 1")
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    routing: RoutingDecision | None = None
    cache_hit: Literal["exact", "semantic", "semantic-translated"] | None = Field(
        default=None, description="semantic-translated: a semantic hit translated into the asker's language (costed)"
    )
    similarity: float | None = None
    latency: Latency = Field(default_factory=Latency)
    attempts: list[Attempt] = Field(default_factory=list)
    error: ErrorInfo | None = None
    worker: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class ChatChunk(_Outbound):
    """A piece of a streamed answer (``ChatRequest.stream``), published to the reply topic before the terminal
    :class:`ChatResponse` (header ``llm-event: chunk``), keyed by request id so the chunks stay in order."""

    request_id: str
    tenant: str = "default"
    index: int = Field(ge=0, description="0, 1, 2, ... in the order the provider sent them")
    delta: str = ""
    finish_reason: str | None = None
    backend: str | None = None
    model: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class FailureEvent(_Outbound):
    """Every failure (decode error, failed attempt, terminal failure), for analytics and alerting."""

    event_id: str = Field(default_factory=new_id)
    request_id: str | None = None
    tenant: str | None = None
    stage: Stage
    code: ErrorCode | str  # any str on read: forward compatible with codes from newer routers
    message: str
    retriable: bool = False
    terminal: bool = False
    backend: str | None = None
    attempt: int | None = None
    source_topic: str | None = None
    attempts: list[Attempt] = Field(default_factory=list, description="attempt history (terminal failures)")
    at: datetime = Field(default_factory=utcnow)


class RetryState(BaseModel):
    """Carried in the ``llm-retry`` header of a request that waits for another round."""

    model_config = ConfigDict(extra="forbid")

    rounds: int = Field(default=0, ge=0, description="rounds already failed")
    attempts: list[Attempt] = Field(default_factory=list)
    first_seen: datetime = Field(default_factory=utcnow)
    not_before: datetime = Field(default_factory=utcnow)
    origin_topic: str = ""
    last_error: ErrorInfo | None = None


class HealthEvent(_Outbound):
    """State of one backend; the ``health`` topic is compacted by backend id."""

    backend: str
    state: Literal["healthy", "degraded", "down"]
    circuit: Literal["closed", "open", "half_open"] = "closed"
    latency_ewma_ms: float | None = None
    error_rate: float | None = None
    in_flight: int = 0
    reason: str | None = None
    config_version: str | None = Field(default=None, description="config version of the worker that reported it")
    worker: str | None = Field(default=None, description="the worker that reported it")
    at: datetime = Field(default_factory=utcnow)


class DeadLetter(_Outbound):
    """A message that could not be served, with everything needed to replay it."""

    dead_letter_id: str = Field(default_factory=new_id)
    reason: DeadLetterReason
    error: str
    request_id: str | None = None
    tenant: str | None = None
    model: str | None = None
    source_topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key_b64: str | None = None
    code: str | None = Field(default=None, description="the precise ErrorCode (reason is the coarse class)")
    original_b64: str = Field(description="the original message bytes, base64 (a prefix when truncated)")
    original_sha256: str | None = Field(default=None, description="hex SHA-256 of the whole original")
    original_len: int | None = Field(default=None, description="length of the whole original, bytes")
    original_truncated: bool = Field(default=False, description="only a prefix kept: the letter fits in a record")
    headers: list[tuple[str, str]] = Field(default_factory=list, description="(name, base64 value) pairs")
    attempts: list[Attempt] = Field(default_factory=list)
    at: datetime = Field(default_factory=utcnow)

    @staticmethod
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    def original_bytes(self) -> bytes:
        """The message exactly as it was consumed (only its prefix when ``original_truncated``)."""
        return base64.b64decode(self.original_b64)

    def header_items(self) -> list[tuple[str, bytes]]:
        """Headers as (name, raw bytes)."""
        return [(k, base64.b64decode(v)) for k, v in self.headers]

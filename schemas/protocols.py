"""Small protocols that adapters implement (providers now; cache and strategies later)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from schemas.events import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    Choice,
    ResponseFormat,
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
)

__all__ = ["Embedder", "Hook", "HookContext", "Provider", "ProviderCall", "ProviderResult", "Publisher"]


class ProviderCall(BaseModel):
    """What the router asks one backend for."""

    model: str
    messages: list[ChatMessage]
    max_tokens: int | None = None
    temperature: float | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    request_id: str | None = None
    # carried from the ChatRequest (issue 17): an adapter maps each or raises unsupported_parameter
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    n: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    user: str | None = None


class ProviderResult(BaseModel):
    """A successful completion, normalised across providers."""

    content: str
    model: str
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    tool_calls: list[ToolCall] | None = None
    choices: list[Choice] | None = Field(default=None, description="every answer when n > 1")


@runtime_checkable
class Provider(Protocol):
    """One backend. The whole extension point: a single async method (plus close)."""

    name: str

    async def complete(self, call: ProviderCall) -> ProviderResult:
        """Return the completion or raise :class:`schemas.errors.ProviderError`."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class Publisher(Protocol):
    """Where outcomes go (Kafka in service mode, memory in library mode and tests)."""

    async def publish(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        """Deliver durably: return only once the record is acknowledged."""
        ...


class Embedder(Protocol):
    """Sentence embeddings: ``embed(texts)`` returns an (n, dim) float32 array of L2-normalised rows.
    CPU-bound and synchronous: callers run it in a worker thread (see ``infra.embeddings.BatchingEmbedder``)."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> Any:
        """(len(texts), dim) numpy array."""
        ...


class HookContext(Protocol):
    """What a hook's factory is given besides its options: where to add metrics, who runs it."""

    @property
    def registry(self) -> Any:
        """The worker's Prometheus ``CollectorRegistry``: a hook's own series appear on /metrics."""

    @property
    def worker_id(self) -> str: ...


class Hook(Protocol):
    """A ``llm_router.hooks`` plugin: built once per config by ``factory(context, **options)``; both methods are
    optional. ``pre_request`` runs before each round (cache lookup, routing, provider call) and may return a
    changed request (``None``: unchanged); ``post_response`` runs on the terminal response and may return a
    changed one. An exception fails the request like any internal error (a redaction hook fails closed)."""

    async def pre_request(self, request: ChatRequest) -> ChatRequest | None: ...

    async def post_response(self, request: ChatRequest, response: ChatResponse) -> ChatResponse | None: ...

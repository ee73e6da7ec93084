"""Small protocols that adapters implement (providers now; cache and strategies later)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from schemas.events import ChatMessage, Usage

__all__ = ["Embedder", "Provider", "ProviderCall", "ProviderResult", "Publisher"]


class ProviderCall(BaseModel):
    """What the router asks one backend for."""

    model: str
    messages: list[ChatMessage]
    max_tokens: int | None = None
    temperature: float | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    request_id: str | None = None


class ProviderResult(BaseModel):
    """A successful completion, normalised across providers."""

    content: str
    model: str
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)


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

"""Where a streamed request's chunks go while it is served: a :class:`ChunkStream` set for the serving task
(a context variable, so the serving path between the transport and the provider call is unchanged) numbers the
provider's text deltas and hands them to the transport (Kafka reply topic, or an in-process queue).

Failover mid-stream: once a chunk was sent, the client holds text from that backend; another backend's answer
would not continue it. So a call that fails after its first chunk ends the request (the terminal response
reports the error, the chunks sent stand) instead of failing over or retrying."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from agents.token_estimate import estimate_text_tokens
from schemas.events import ChatChunk, ChatRequest, ChatResponse

__all__ = ["CURRENT_STREAM", "ChunkSend", "ChunkStream", "current_stream", "whole_answer_chunk"]

ChunkSend = Callable[[ChatChunk], Awaitable[None]]


class ChunkStream:
    """The chunks of one request, numbered from 0 in the order they are sent."""

    def __init__(self, request: ChatRequest, send: ChunkSend) -> None:
        self._request = request
        self._send = send
        self.sent = 0
        #: estimated tokens of the text sent, and the backend and model that sent the last chunk (a cancelled
        #: stream's usage is estimated from them: the provider reports usage only at the end)
        self.tokens = 0
        self.backend: str | None = None
        self.model: str | None = None

    def for_backend(self, backend: str, model: str) -> Callable[[str], Awaitable[None]]:
        """The delta sink of one provider call."""

        async def on_delta(text: str) -> None:
            await self.send(text, backend=backend, model=model)

        return on_delta

    async def send(self, delta: str, *, backend: str | None = None, model: str | None = None) -> None:
        chunk = ChatChunk(
            request_id=self._request.request_id,
            tenant=self._request.tenant,
            index=self.sent,
            delta=delta,
            backend=backend,
            model=model,
        )
        self.sent += 1
        self.tokens += estimate_text_tokens(delta)
        self.backend, self.model = backend, model
        await self._send(chunk)


#: the stream of the request served by the current task (None: not streamed)
CURRENT_STREAM: ContextVar[ChunkStream | None] = ContextVar("llm_router_chunk_stream", default=None)


def current_stream(request: ChatRequest) -> ChunkStream | None:
    """The chunk stream of ``request`` when it asked for one and its transport set one up."""
    stream = CURRENT_STREAM.get()
    return stream if request.stream and stream is not None else None


def whole_answer_chunk(response: ChatResponse, sent: int) -> ChatChunk | None:
    """The chunk a reader shows for an ok answer that came without any (a cache hit, an answer remembered
    for a redelivered request): its whole content as chunk 0; None when chunks came or there is no text."""
    if sent or response.status != "ok" or not response.content:
        return None
    return ChatChunk(
        request_id=response.request_id,
        tenant=response.tenant,
        index=0,
        delta=response.content,
        backend=response.backend,
        model=response.model,
    )

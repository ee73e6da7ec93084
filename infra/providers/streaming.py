"""Streamed answers (server-sent events) of the OpenAI, Anthropic and Gemini APIs: each event's JSON becomes a
text delta, and what the stream tells along the way (model, finish reason, usage) is kept in a
:class:`StreamState` that ends as the same :class:`ProviderResult` a whole answer gives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from schemas.errors import ProviderError
from schemas.events import Usage
from schemas.protocols import ProviderResult

__all__ = [
    "DeltaSink",
    "EventReader",
    "SseLines",
    "StreamState",
    "anthropic_event",
    "gemini_event",
    "openai_event",
    "sse_data",
]

#: called with each text delta, in order, as it arrives
DeltaSink = Callable[[str], Awaitable[None]]

# the adapters map these the same way for whole answers (kept here too: the adapters import this module)
_ANTHROPIC_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}
_GEMINI_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter"}


@dataclass
class StreamState:
    """What a stream said so far."""

    model: str = ""
    parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def result(self) -> ProviderResult:
        return ProviderResult(
            content="".join(self.parts),
            model=self.model,
            finish_reason=self.finish_reason,
            usage=Usage(prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens),
        )


#: reads one event's JSON into the state; returns its text delta ("" or None: none)
EventReader = Callable[[Any, StreamState], str | None]


class SseLines:
    """Server-sent events line by line: :meth:`feed` returns an event's ``data`` once its blank line comes
    (multi-line data joined by newlines); other fields and comments are ignored."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        if line.startswith("data:"):
            self._data.append(line[5:].removeprefix(" "))
            return None
        return self.end() if not line else None

    def end(self) -> str | None:
        """The event still open when the stream ends without its blank line, if any."""
        if not self._data:
            return None
        data, self._data = "\n".join(self._data), []
        return data


def sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The ``data`` payload of each server-sent event in ``lines``."""
    parser = SseLines()
    for line in lines:
        data = parser.feed(line)
        if data is not None:
            yield data
    last = parser.end()
    if last is not None:
        yield last


def _text(state: StreamState, text: str | None) -> str | None:
    if text:
        state.parts.append(text)
    return text


def _usage(state: StreamState, usage: Any, prompt_key: str, completion_key: str) -> None:
    """Token counts from a provider's usage object (each names them its own way); absent counts read as 0."""
    if usage:
        state.prompt_tokens = int(usage.get(prompt_key) or 0)
        state.completion_tokens = int(usage.get(completion_key) or 0)


def openai_event(data: Any, state: StreamState) -> str | None:
    """A ``chat.completion.chunk``; usage comes in a last chunk with no choices (``stream_options``)."""
    state.model = data.get("model") or state.model
    _usage(state, data.get("usage"), "prompt_tokens", "completion_tokens")
    choices = data.get("choices") or []
    if not choices:
        return None
    choice = choices[0]
    state.finish_reason = choice.get("finish_reason") or state.finish_reason
    return _text(state, (choice.get("delta") or {}).get("content"))


def anthropic_event(data: Any, state: StreamState) -> str | None:
    """A Messages API stream event (``message_start``, ``content_block_delta``, ``message_delta``, ...)."""
    kind = data.get("type")
    if kind == "error":
        error = data.get("error") or {}
        raise ProviderError(
            f"stream error: {error.get('type')}: {error.get('message')}",
            backend="",  # the adapter names itself when it re-raises
            retriable=True,
            code="provider_transient",
        )
    if kind == "message_start":
        message = data.get("message") or {}
        state.model = message.get("model") or state.model
        _usage(state, message.get("usage") or {"input_tokens": 0}, "input_tokens", "output_tokens")
    elif kind == "message_delta":
        stop = (data.get("delta") or {}).get("stop_reason")
        state.finish_reason = (
            _ANTHROPIC_FINISH.get(stop, stop) if isinstance(stop, str) else None
        ) or state.finish_reason
        state.completion_tokens = int((data.get("usage") or {}).get("output_tokens") or state.completion_tokens)
    elif kind == "content_block_delta":
        delta = data.get("delta") or {}
        if delta.get("type") == "text_delta":
            return _text(state, delta.get("text"))
    return None


def gemini_event(data: Any, state: StreamState) -> str | None:
    """One ``GenerateContentResponse`` of ``streamGenerateContent?alt=sse``: the parts of each are new text."""
    state.model = data.get("modelVersion") or state.model
    _usage(state, data.get("usageMetadata"), "promptTokenCount", "candidatesTokenCount")
    candidates = data.get("candidates") or []
    if not candidates:
        return None
    candidate = candidates[0]
    finish = candidate.get("finishReason")
    if isinstance(finish, str):
        state.finish_reason = _GEMINI_FINISH.get(finish, finish.lower())
    parts = (candidate.get("content") or {}).get("parts") or []
    return _text(state, "".join(p.get("text", "") for p in parts))

"""OpenAI's streamed chat completion (``chat.completion.chunk`` objects as server-sent events) from the
router's :class:`ChatChunk` events and terminal :class:`ChatResponse`. Pure mapping, no I/O."""

from __future__ import annotations

import json
from typing import Any

from schemas.events import ChatChunk, ChatResponse

__all__ = ["DONE", "chunk_of", "closing_chunks", "sse"]

DONE = b"data: [DONE]\n\n"


def sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def _chunk(request_id: str, created: int, model: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{request_id}",  # the same id as the non-streamed completion of this request
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": choices,
    }


def chunk_of(chunk: ChatChunk, created: int) -> dict[str, Any]:
    """One text delta (the first also names the role, as OpenAI's first chunk does)."""
    delta: dict[str, Any] = {"content": chunk.delta}
    if chunk.index == 0:
        delta = {"role": "assistant", **delta}
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
    return _chunk(chunk.request_id, created, chunk.model or "", [choice])


def closing_chunks(response: ChatResponse, created: int, *, include_usage: bool) -> list[dict[str, Any]]:
    """After the deltas: the finish reason; usage in a last chunk without choices when asked for
    (``stream_options.include_usage``); an error that ended the stream as an ``error`` object."""
    if response.status != "ok":
        error = response.error
        return [{"error": {"message": error.message if error else "failed", "type": "server_error",
                           "code": str(error.code) if error else None}}]  # fmt: skip
    model = response.model or ""
    finish = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": response.finish_reason or "stop"}
    out = [_chunk(response.request_id, created, model, [finish])]
    if include_usage:
        usage = response.usage
        last = _chunk(response.request_id, created, model, [])
        last["usage"] = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        }
        out.append(last)
    return out

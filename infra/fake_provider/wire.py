"""Provider wire formats spoken by the fake server: request parsing, success and error bodies."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from infra.fake_provider.tools import ToolAsk

__all__ = ["FORMATS", "Parsed", "WireFormat", "stream_events"]


@dataclass
class Parsed:
    model: str
    messages: list[dict[str, str]]  # role/content, roles normalised to system/user/assistant
    max_tokens: int | None
    stream: bool = False  # answer as server-sent events (see :func:`stream_events`)
    ask: ToolAsk | None = None  # tools, JSON mode, n (see :mod:`infra.fake_provider.tools`)


class WireFormat(Protocol):
    def parse(self, body: Any, path_model: str | None) -> Parsed: ...

    def ok(
        self, p: Parsed, content: str, prompt_tokens: int, completion_tokens: int, serial: int
    ) -> dict[str, Any]: ...

    def error(self, status: int, message: str) -> dict[str, Any]: ...


class OpenAIFormat:
    def parse(self, body: Any, path_model: str | None) -> Parsed:
        msgs = [{"role": str(m["role"]), "content": str(m.get("content") or "")} for m in body["messages"]]
        return Parsed(str(body["model"]), msgs, body.get("max_tokens"), bool(body.get("stream")))

    def ok(self, p: Parsed, content: str, prompt_tokens: int, completion_tokens: int, serial: int) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-fake-{serial}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": p.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def error(self, status: int, message: str) -> dict[str, Any]:
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "invalid_request_error",
            429: "rate_limit_error",
        }.get(status, "server_error")
        code = {401: "invalid_api_key", 404: "model_not_found"}.get(status)
        return {"error": {"message": message, "type": kind, "code": code}}


class AnthropicFormat:
    def parse(self, body: Any, path_model: str | None) -> Parsed:
        if "max_tokens" not in body:
            raise KeyError("max_tokens")
        msgs = [{"role": "system", "content": str(body["system"])}] if body.get("system") else []
        for m in body["messages"]:
            content = m["content"]
            if isinstance(content, list):
                content = "".join(block.get("text", "") for block in content)
            msgs.append({"role": str(m["role"]), "content": str(content)})
        return Parsed(str(body["model"]), msgs, body.get("max_tokens"), bool(body.get("stream")))

    def ok(self, p: Parsed, content: str, prompt_tokens: int, completion_tokens: int, serial: int) -> dict[str, Any]:
        return {
            "id": f"msg_fake{serial}",
            "type": "message",
            "role": "assistant",
            "model": p.model,
            "content": [{"type": "text", "text": content}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
        }

    def error(self, status: int, message: str) -> dict[str, Any]:
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}


class GeminiFormat:
    def parse(self, body: Any, path_model: str | None) -> Parsed:
        if not path_model:
            raise KeyError("model")
        msgs = []
        if body.get("systemInstruction"):
            msgs.append(
                {"role": "system", "content": "".join(p.get("text", "") for p in body["systemInstruction"]["parts"])}
            )
        for c in body["contents"]:
            role = "assistant" if c.get("role") == "model" else "user"
            msgs.append({"role": role, "content": "".join(p.get("text", "") for p in c["parts"])})
        config = body.get("generationConfig") or {}
        return Parsed(path_model, msgs, config.get("maxOutputTokens"))

    def ok(self, p: Parsed, content: str, prompt_tokens: int, completion_tokens: int, serial: int) -> dict[str, Any]:
        return {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": content}]}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": completion_tokens,
                "totalTokenCount": prompt_tokens + completion_tokens,
            },
            "modelVersion": p.model,
        }

    def error(self, status: int, message: str) -> dict[str, Any]:
        rpc = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
            500: "INTERNAL",
            503: "UNAVAILABLE",
            504: "DEADLINE_EXCEEDED",
        }.get(status, "UNKNOWN")
        return {"error": {"code": status, "message": message, "status": rpc}}


def stream_events(fmt: str, p: Parsed, pieces: list[str], prompt_tokens: int, completion_tokens: int) -> list[Any]:
    """The server-sent events' payloads of an answer streamed in ``pieces``, as each provider sends them
    (``"[DONE]"`` ends OpenAI's stream)."""
    if fmt == "openai":
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": p.model}
        first = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
        texts = [{**base, "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]} for t in pieces]
        last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
        return [*first, *texts, last, {**base, "choices": [], "usage": usage}, "[DONE]"]
    if fmt == "anthropic":
        start = {"model": p.model, "usage": {"input_tokens": prompt_tokens, "output_tokens": 1}}
        end_usage = {"output_tokens": completion_tokens}
        return [
            {"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant", **start}},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            *({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}} for t in pieces),
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": end_usage},
            {"type": "message_stop"},
        ]
    events: list[Any] = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": t}]}, "index": 0}], "modelVersion": p.model}
        for t in pieces
    ]
    events[-1]["candidates"][0]["finishReason"] = "STOP"
    events[-1]["usageMetadata"] = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": completion_tokens}
    return events


FORMATS: dict[str, WireFormat] = {"openai": OpenAIFormat(), "anthropic": AnthropicFormat(), "gemini": GeminiFormat()}

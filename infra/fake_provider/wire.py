"""Provider wire formats spoken by the fake server: request parsing, success and error bodies."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["FORMATS", "Parsed", "WireFormat"]


@dataclass
class Parsed:
    model: str
    messages: list[dict[str, str]]  # role/content, roles normalised to system/user/assistant
    max_tokens: int | None


class WireFormat(Protocol):
    def parse(self, body: Any, path_model: str | None) -> Parsed: ...

    def ok(
        self, p: Parsed, content: str, prompt_tokens: int, completion_tokens: int, serial: int
    ) -> dict[str, Any]: ...

    def error(self, status: int, message: str) -> dict[str, Any]: ...


class OpenAIFormat:
    def parse(self, body: Any, path_model: str | None) -> Parsed:
        msgs = [{"role": str(m["role"]), "content": str(m.get("content") or "")} for m in body["messages"]]
        return Parsed(str(body["model"]), msgs, body.get("max_tokens"))

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
        return Parsed(str(body["model"]), msgs, body.get("max_tokens"))

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


FORMATS: dict[str, WireFormat] = {"openai": OpenAIFormat(), "anthropic": AnthropicFormat(), "gemini": GeminiFormat()}

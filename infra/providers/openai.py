"""OpenAI chat completions (also any OpenAI-compatible server: vLLM, Ollama, LM Studio, Azure-style proxies)."""

from __future__ import annotations

from typing import Any

import httpx

from infra.providers.http_base import HttpJsonProvider
from infra.providers.http_errors import error_from_response, parse_duration
from infra.providers.openai_mapping import openai_choices, openai_extras, openai_messages, openai_usage
from infra.providers.streaming import openai_event
from schemas.errors import ProviderError
from schemas.protocols import ProviderCall, ProviderResult

__all__ = ["OpenAIProvider"]


class OpenAIProvider(HttpJsonProvider):
    """POST ``{base_url}/chat/completions``; ``base_url`` ends in ``/v1``."""

    read_event = staticmethod(openai_event)

    def url(self, call: ProviderCall) -> str:
        return f"{self.base_url}/chat/completions"

    def stream_body(self, call: ProviderCall) -> dict[str, Any]:
        return {**self.build_body(call), "stream": True, "stream_options": {"include_usage": True}}

    def auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def build_body(self, call: ProviderCall) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": call.model,
            "messages": openai_messages(call.messages),
        }
        if call.max_tokens is not None:
            body["max_tokens"] = call.max_tokens
        if call.temperature is not None:
            body["temperature"] = call.temperature
        body.update(openai_extras(call))
        return body

    def parse_body(self, data: Any, call: ProviderCall) -> ProviderResult:
        choices = openai_choices(data)
        first = choices[0]
        return ProviderResult(
            content=first.content or "",
            model=data.get("model") or call.model,
            finish_reason=first.finish_reason,
            usage=openai_usage(data.get("usage") or {}),
            tool_calls=first.tool_calls,
            choices=choices if len(choices) > 1 else None,
        )

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        err = error_from_response(self.name, response)
        if err.status == 429 and err.retry_after is None:
            # OpenAI's rate-limit headers say when the exhausted budget resets, e.g. "1s", "6m0s", "20ms"
            resets = [
                parse_duration(response.headers.get(h))
                for h in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
            ]
            known = [r for r in resets if r is not None]
            if known:
                err.retry_after = max(known)
        return err

"""Anthropic Messages API adapter."""

from __future__ import annotations

from typing import Any

import httpx

from infra.providers.anthropic_mapping import anthropic_extras, anthropic_reply, anthropic_turns, cached_usage
from infra.providers.http_base import HttpJsonProvider
from infra.providers.http_errors import error_from_response, parse_reset_time
from infra.providers.streaming import anthropic_event
from schemas.errors import ProviderError
from schemas.events import Usage
from schemas.protocols import ProviderCall, ProviderResult

__all__ = ["AnthropicProvider"]

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024  # the Messages API requires max_tokens
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


class AnthropicProvider(HttpJsonProvider):
    """POST ``{base_url}/messages``; ``base_url`` ends in ``/v1`` (``https://api.anthropic.com/v1``)."""

    read_event = staticmethod(anthropic_event)

    def url(self, call: ProviderCall) -> str:
        return f"{self.base_url}/messages"

    def auth_headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if self._api_key:
            headers["x-api-key"] = self._api_key
        return headers

    def build_body(self, call: ProviderCall) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in call.messages if m.role == "system")
        turns = anthropic_turns(call.messages, self.name)  # the API wants alternating turns: neighbours merged
        body: dict[str, Any] = {
            "model": call.model,
            "max_tokens": call.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": turns,
        }
        if system:
            body["system"] = system
        if call.temperature is not None:
            body["temperature"] = min(call.temperature, 1.0)  # Anthropic's range is 0..1
        body.update(anthropic_extras(call, self.name))
        return body

    def parse_body(self, data: Any, call: ProviderCall) -> ProviderResult:
        if data.get("type") == "error":
            raise ValueError(data.get("error"))
        text, tool_calls, json_answer = anthropic_reply(data, call)
        usage = data.get("usage") or {}
        prompt_tokens, cached = cached_usage(usage)
        stop = data.get("stop_reason")
        return ProviderResult(
            content=text,
            model=data.get("model") or call.model,
            finish_reason="stop" if json_answer else _FINISH.get(stop, stop),
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=int(usage.get("output_tokens") or 0),
                cached_tokens=cached,
            ),
            tool_calls=tool_calls,
        )

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        err = error_from_response(self.name, response)
        if err.status == 429 and err.retry_after is None:
            resets = [
                parse_reset_time(response.headers.get(f"anthropic-ratelimit-{k}-reset"))
                for k in ("requests", "tokens", "input-tokens", "output-tokens")
            ]
            known = [r for r in resets if r is not None]
            if known:
                err.retry_after = max(known)
        if err.status == 529:
            err.code = "provider_overloaded"
        return err

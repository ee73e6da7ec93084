"""Google Gemini ``generateContent`` adapter (Generative Language API)."""

from __future__ import annotations

from typing import Any

import httpx

from infra.providers.gemini_mapping import gemini_choices, gemini_config, gemini_contents, gemini_tools
from infra.providers.http_base import HttpJsonProvider
from infra.providers.http_errors import error_from_response, parse_duration
from infra.providers.streaming import gemini_event
from schemas.errors import ProviderError
from schemas.events import ErrorCode, Usage
from schemas.protocols import ProviderCall, ProviderResult

__all__ = ["GeminiProvider"]

_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter"}


class GeminiProvider(HttpJsonProvider):
    """POST ``{base_url}/models/{model}:generateContent``; ``base_url`` ends in ``/v1beta``.

    The key travels in the ``x-goog-api-key`` header, not in the URL, so it never reaches access logs."""

    read_event = staticmethod(gemini_event)

    def url(self, call: ProviderCall) -> str:
        return f"{self.base_url}/models/{call.model}:generateContent"

    def stream_url(self, call: ProviderCall) -> str:
        return f"{self.base_url}/models/{call.model}:streamGenerateContent?alt=sse"

    def stream_body(self, call: ProviderCall) -> dict[str, Any]:
        return self.build_body(call)

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._api_key} if self._api_key else {}

    def build_body(self, call: ProviderCall) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in call.messages if m.role == "system")
        body: dict[str, Any] = {"contents": gemini_contents(call.messages, self.name), **gemini_tools(call)}
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        config: dict[str, Any] = {}
        if call.max_tokens is not None:
            config["maxOutputTokens"] = call.max_tokens
        if call.temperature is not None:
            config["temperature"] = call.temperature
        config.update(gemini_config(call))
        if config:
            body["generationConfig"] = config
        return body

    def parse_body(self, data: Any, call: ProviderCall) -> ProviderResult:
        choices = gemini_choices(data, _finish)
        first = choices[0]
        usage = data.get("usageMetadata") or {}
        return ProviderResult(
            content=first.content or "",
            model=data.get("modelVersion") or call.model,
            finish_reason=first.finish_reason,
            usage=Usage(
                prompt_tokens=int(usage.get("promptTokenCount") or 0),
                completion_tokens=int(usage.get("candidatesTokenCount") or 0),
                cached_tokens=int(usage.get("cachedContentTokenCount") or 0),
            ),
            tool_calls=first.tool_calls,
            choices=choices if len(choices) > 1 else None,
        )

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        err = error_from_response(self.name, response)
        details = _details(response)
        if err.retry_after is None:
            err.retry_after = _retry_info(details)
        if err.status == 400 and any(d.get("reason") == "API_KEY_INVALID" for d in details):
            err.code = ErrorCode.PROVIDER_AUTH  # Gemini answers a bad key with 400, not 401
        return err


def _finish(reason: Any) -> str | None:
    return _FINISH.get(reason, reason.lower() if isinstance(reason, str) else None)


def _details(response: httpx.Response) -> list[dict[str, Any]]:
    """The ``google.rpc`` details of an error body (empty when there are none or the body is not JSON)."""
    try:
        details = response.json()["error"].get("details") or []
    except (ValueError, KeyError, TypeError, AttributeError):
        return []
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _retry_info(details: list[dict[str, Any]]) -> float | None:
    """``google.rpc.RetryInfo.retryDelay`` ("30s") from the error details, if present."""
    for detail in details:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            return parse_duration(str(detail.get("retryDelay", "")))
    return None

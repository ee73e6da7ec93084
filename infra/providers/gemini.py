"""Google Gemini ``generateContent`` adapter (Generative Language API)."""

from __future__ import annotations

from typing import Any

import httpx

from infra.providers.http_base import HttpJsonProvider
from infra.providers.http_errors import error_from_response, parse_duration
from schemas.errors import ProviderError
from schemas.events import ErrorCode, Usage
from schemas.protocols import ProviderCall, ProviderResult

__all__ = ["GeminiProvider"]

_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter"}


class GeminiProvider(HttpJsonProvider):
    """POST ``{base_url}/models/{model}:generateContent``; ``base_url`` ends in ``/v1beta``.

    The key travels in the ``x-goog-api-key`` header, not in the URL, so it never reaches access logs."""

    def url(self, call: ProviderCall) -> str:
        return f"{self.base_url}/models/{call.model}:generateContent"

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._api_key} if self._api_key else {}

    def build_body(self, call: ProviderCall) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in call.messages if m.role == "system")
        contents = [
            {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
            for m in call.messages
            if m.role != "system"
        ]
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        config: dict[str, Any] = {}
        if call.max_tokens is not None:
            config["maxOutputTokens"] = call.max_tokens
        if call.temperature is not None:
            config["temperature"] = call.temperature
        if config:
            body["generationConfig"] = config
        return body

    def parse_body(self, data: Any, call: ProviderCall) -> ProviderResult:
        candidate = data["candidates"][0]
        parts = (candidate.get("content") or {}).get("parts") or []
        usage = data.get("usageMetadata") or {}
        finish = candidate.get("finishReason")
        return ProviderResult(
            content="".join(p.get("text", "") for p in parts),
            model=data.get("modelVersion") or call.model,
            finish_reason=_FINISH.get(finish, finish.lower() if isinstance(finish, str) else None),
            usage=Usage(
                prompt_tokens=int(usage.get("promptTokenCount") or 0),
                completion_tokens=int(usage.get("candidatesTokenCount") or 0),
            ),
        )

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        err = error_from_response(self.name, response)
        details = _details(response)
        if err.retry_after is None:
            err.retry_after = _retry_info(details)
        if err.status == 400 and any(d.get("reason") == "API_KEY_INVALID" for d in details):
            err.code = ErrorCode.PROVIDER_AUTH  # Gemini answers a bad key with 400, not 401
        return err


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

"""OpenAI chat-completions adapter (also any OpenAI-compatible server: vLLM, Ollama, LM Studio)."""

from __future__ import annotations

from typing import Any

import httpx

from infra.providers.http_errors import error_from_exception, error_from_response
from schemas.config import BackendConfig
from schemas.errors import ProviderError
from schemas.events import Usage
from schemas.protocols import ProviderCall, ProviderResult

__all__ = ["OpenAIProvider"]


class OpenAIProvider:
    """POST ``{base_url}/chat/completions`` in the OpenAI wire format."""

    def __init__(self, backend: BackendConfig, client: httpx.AsyncClient, api_key: str | None) -> None:
        self.name = backend.name
        self._url = backend.base_url.rstrip("/") + "/chat/completions"
        self._client = client
        self._headers = {"content-type": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"

    @staticmethod
    def build_body(call: ProviderCall) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": call.model,
            "messages": [{"role": m.role, "content": m.content} for m in call.messages],
        }
        if call.max_tokens is not None:
            body["max_tokens"] = call.max_tokens
        if call.temperature is not None:
            body["temperature"] = call.temperature
        return body

    def parse_body(self, data: Any) -> ProviderResult:
        try:
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
            usage = data.get("usage") or {}
            return ProviderResult(
                content=content,
                model=data.get("model") or "",
                finish_reason=choice.get("finish_reason"),
                usage=Usage(
                    prompt_tokens=int(usage.get("prompt_tokens") or 0),
                    completion_tokens=int(usage.get("completion_tokens") or 0),
                ),
            )
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise ProviderError(
                f"{self.name}: malformed chat completion ({type(exc).__name__}: {exc})",
                backend=self.name,
                retriable=True,
                code="provider_protocol_error",
            ) from None

    async def complete(self, call: ProviderCall) -> ProviderResult:
        headers = dict(self._headers)
        if call.request_id:
            headers["x-request-id"] = call.request_id
        try:
            response = await self._client.post(
                self._url, json=self.build_body(call), headers=headers, timeout=call.timeout_s
            )
        except httpx.HTTPError as exc:
            raise error_from_exception(self.name, exc) from None
        if response.status_code >= 400:
            raise error_from_response(self.name, response)
        try:
            data = response.json()
        except ValueError:
            raise ProviderError(
                f"{self.name}: response is not JSON",
                backend=self.name,
                retriable=True,
                status=response.status_code,
                code="provider_protocol_error",
            ) from None
        result = self.parse_body(data)
        if not result.model:
            result.model = call.model
        return result

    async def aclose(self) -> None:
        """The shared client is owned by the pool, nothing to release here."""

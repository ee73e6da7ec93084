"""Shared plumbing of HTTP JSON providers: one POST, faithful error mapping, malformed-body handling."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from infra.providers.http_errors import error_from_exception, error_from_response, timeout_error
from schemas.config import BackendConfig
from schemas.errors import ProviderError
from schemas.protocols import ProviderCall, ProviderResult

__all__ = ["HttpJsonProvider"]


class HttpJsonProvider:
    """Subclasses say where to POST, what to send and how to read the answer; this class does the rest."""

    def __init__(self, backend: BackendConfig, client: httpx.AsyncClient, api_key: str | None) -> None:
        self.name = backend.name
        self.base_url = backend.base_url.rstrip("/")
        self._client = client
        self._api_key = api_key

    # --- what subclasses provide -------------------------------------------------------------------------
    def url(self, call: ProviderCall) -> str:
        raise NotImplementedError

    def auth_headers(self) -> dict[str, str]:
        return {}

    def build_body(self, call: ProviderCall) -> dict[str, Any]:
        raise NotImplementedError

    def parse_body(self, data: Any, call: ProviderCall) -> ProviderResult:
        raise NotImplementedError

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        return error_from_response(self.name, response)

    # --- the one call --------------------------------------------------------------------------------------
    async def complete(self, call: ProviderCall) -> ProviderResult:
        """POST and read the whole answer within ``call.timeout_s`` in all. httpx's own timeout applies to each
        step (connect, write, every read) separately, so a server trickling bytes would hold the call for as
        long as it trickles: one overall deadline (issue 13, finding 4) is the timeout the caller asked for."""
        headers = {"content-type": "application/json", **self.auth_headers()}
        if call.request_id:
            headers["x-request-id"] = call.request_id
        try:
            async with asyncio.timeout(call.timeout_s):
                response = await self._client.post(
                    self.url(call), json=self.build_body(call), headers=headers, timeout=call.timeout_s
                )
        except TimeoutError:
            raise timeout_error(self.name, call.timeout_s) from None
        except httpx.HTTPError as exc:
            raise error_from_exception(self.name, exc) from None
        if response.status_code >= 400:
            raise self.error_from_response(response)
        try:
            data = response.json()
        except ValueError:
            raise self._protocol_error("response is not JSON") from None
        try:
            return self.parse_body(data, call)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise self._protocol_error(f"unexpected response shape ({type(exc).__name__}: {exc})") from None

    def _protocol_error(self, what: str) -> ProviderError:
        return ProviderError(f"{self.name}: {what}", backend=self.name, retriable=True, code="provider_protocol_error")

    async def aclose(self) -> None:
        """The shared client is owned by the pool, nothing to release here."""

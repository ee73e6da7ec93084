"""Shared plumbing of HTTP JSON providers: one POST, faithful error mapping, malformed-body handling."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import httpx
import orjson

from infra.providers.http_client import AiohttpClient, JsonReply
from infra.providers.http_errors import error_from_exception, error_from_response, timeout_error
from infra.providers.streaming import DeltaSink, EventReader, SseLines, StreamState
from schemas.config import BackendConfig
from schemas.errors import ProviderError
from schemas.protocols import ProviderCall, ProviderResult

__all__ = ["HttpJsonProvider"]


class HttpJsonProvider:
    """Subclasses say where to POST, what to send and how to read the answer; this class does the rest."""

    #: ``complete`` and ``stream`` end within ``call.timeout_s`` on their own (one overall deadline each), so the
    #: caller need not arm a second timer around them (see ``agents.provider_call``); a subclass that overrides
    #: either without that bound must set this False
    bounds_call_time: ClassVar[bool] = True

    def __init__(self, backend: BackendConfig, client: httpx.AsyncClient, api_key: str | None) -> None:
        self.name = backend.name
        self.base_url = backend.base_url.rstrip("/")
        self._client = client
        # the aiohttp transport's client: whole JSON answers are read without httpx's objects (same errors)
        self._fast = client if isinstance(client, AiohttpClient) else None
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

    #: reads one streamed event (None: the adapter cannot stream; :meth:`stream` then sends the whole answer)
    read_event: EventReader | None = None

    def stream_url(self, call: ProviderCall) -> str:
        return self.url(call)

    def stream_body(self, call: ProviderCall) -> dict[str, Any]:
        return {**self.build_body(call), "stream": True}

    def _headers(self, call: ProviderCall) -> dict[str, str]:
        headers = {"content-type": "application/json", **self.auth_headers()}
        if call.request_id:
            headers["x-request-id"] = call.request_id
        return headers

    # --- the one call --------------------------------------------------------------------------------------
    async def complete(self, call: ProviderCall) -> ProviderResult:
        """POST and read the whole answer within ``call.timeout_s`` in all. httpx's own timeout applies to each
        step (connect, write, every read) separately, so a server trickling bytes would hold the call for as
        long as it trickles: one overall deadline (issue 13, finding 4) is the timeout the caller asked for."""
        headers, url, body = self._headers(call), self.url(call), self.build_body(call)
        response: httpx.Response | JsonReply
        try:
            async with asyncio.timeout(call.timeout_s):
                if self._fast is not None:
                    response = await self._fast.post_json(url, body, headers)  # bounded by the timeout around it
                else:
                    response = await self._client.post(url, json=body, headers=headers, timeout=call.timeout_s)
        except TimeoutError:
            raise timeout_error(self.name, call.timeout_s) from None
        except httpx.HTTPError as exc:
            raise error_from_exception(self.name, exc) from None
        if response.status_code >= 400:
            full = response if isinstance(response, httpx.Response) else response.as_httpx("POST", url)
            raise self.error_from_response(full)
        try:
            data = orjson.loads(response.content)
        except ValueError:
            raise self._protocol_error("response is not JSON") from None
        try:
            return self.parse_body(data, call)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise self._protocol_error(f"unexpected response shape ({type(exc).__name__}: {exc})") from None

    async def stream(self, call: ProviderCall, on_delta: DeltaSink) -> ProviderResult:
        """The answer as server-sent events: each text delta goes to ``on_delta`` as it arrives (in order), the
        result at the end is what :meth:`complete` would return. The same one overall deadline; cancelling the
        caller closes the connection, which is how a provider learns the client went away."""
        reader = self.read_event
        if reader is None:
            result = await self.complete(call)
            if result.content:
                await on_delta(result.content)
            return result
        state = StreamState(model=call.model)
        try:
            async with asyncio.timeout(call.timeout_s):
                async with self._client.stream(
                    "POST", self.stream_url(call), json=self.stream_body(call), headers=self._headers(call)
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise self.error_from_response(response)
                    await self._read_stream(response, reader, state, on_delta)
        except TimeoutError:
            raise timeout_error(self.name, call.timeout_s) from None
        except httpx.HTTPError as exc:
            raise error_from_exception(self.name, exc) from None
        except ProviderError as exc:
            exc.backend = exc.backend or self.name
            raise
        return state.result()

    async def _read_stream(
        self, response: httpx.Response, reader: EventReader, state: StreamState, on_delta: DeltaSink
    ) -> None:
        events = SseLines()
        async for line in response.aiter_lines():
            data = events.feed(line)
            if data is None:
                continue
            if data.strip() == "[DONE]":
                return
            try:
                delta = reader(orjson.loads(data), state)
            except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
                raise self._protocol_error(f"unexpected stream event ({type(exc).__name__}: {exc})") from None
            if delta:
                await on_delta(delta)

    def _protocol_error(self, what: str) -> ProviderError:
        return ProviderError(f"{self.name}: {what}", backend=self.name, retriable=True, code="provider_protocol_error")

    async def aclose(self) -> None:
        """The shared client is owned by the pool, nothing to release here."""

"""The HTTP client of a backend: httpx's API (what the adapters and their tests speak), on a chosen transport.

``aiohttp`` moves the bytes with aiohttp's connection pool and C parser; httpx's own transport (httpcore) costs
several times the CPU per call under concurrency (``python -m benchmarks overhead``; the profile is
``benchmarks/results/flame-library.svg``). The transport is ours rather than the ``httpx-aiohttp`` package: its
0.2 release maps a dropped connection to ``httpx.ConnectTimeout`` (a reset would read as a timeout) and lets
other aiohttp errors escape as non-httpx exceptions, which the adapters' error mapping would not see."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator, Mapping
from typing import Any, NamedTuple

import aiohttp
import httpx
import orjson

from schemas.config import BackendConfig, HttpTransport

__all__ = ["AiohttpClient", "AiohttpTransport", "JsonReply", "build_http_client"]

_CHUNK = 64 * 1024
_UNBOUNDED = aiohttp.ClientTimeout(total=None)  # not aiohttp's default (300 s in all): the caller's deadline rules


def build_http_client(backend: BackendConfig, transport: HttpTransport) -> httpx.AsyncClient:
    """One pooled client per backend: up to ``max_concurrency`` connections, all kept alive."""
    limits = httpx.Limits(max_connections=backend.max_concurrency, max_keepalive_connections=backend.max_concurrency)
    if transport == "aiohttp":
        return AiohttpClient(limits, backend.timeout_s)
    return httpx.AsyncClient(limits=limits, timeout=backend.timeout_s)


class JsonReply(NamedTuple):
    """A whole answer read by :meth:`AiohttpClient.post_json`: what the adapters read of an ``httpx.Response``."""

    status_code: int
    content: bytes
    raw_headers: tuple[tuple[bytes, bytes], ...]

    def as_httpx(self, method: str, url: str) -> httpx.Response:
        """The full ``httpx.Response`` (for error mapping: headers, body, status; built only when needed)."""
        return httpx.Response(
            self.status_code, headers=list(self.raw_headers), content=self.content, request=httpx.Request(method, url)
        )


class AiohttpClient(httpx.AsyncClient):
    """httpx's API on :class:`AiohttpTransport`, plus :meth:`post_json`, the JSON adapters' one call without
    httpx's request and response objects: those cost more CPU than aiohttp's whole exchange (see the profile)."""

    def __init__(self, limits: httpx.Limits, timeout_s: float) -> None:
        self._aiohttp = AiohttpTransport(limits)
        super().__init__(transport=self._aiohttp, timeout=timeout_s)

    async def post_json(self, url: str, body: Any, headers: Mapping[str, str]) -> JsonReply:
        """POST ``body`` as JSON and read the whole answer, decompressed; failures raise the httpx exceptions
        :meth:`post` raises. No timeout of its own: the caller bounds the whole call (``asyncio.timeout``), and
        per-step timeouts no longer than that would only arm and cancel a timer for every step."""
        data = orjson.dumps(body)  # compact UTF-8 like httpx's json=, at a twentieth of the CPU
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")  # httpx's words
        session = self._aiohttp.session()
        try:
            async with session.post(
                url, data=data, headers=headers, timeout=_UNBOUNDED, allow_redirects=False, auto_decompress=True
            ) as response:
                return JsonReply(response.status, await response.read(), response.raw_headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _mapped(exc) from exc


def _mapped(exc: BaseException) -> httpx.TransportError:
    """aiohttp's failure as the httpx exception httpx's own transport raises for it (same message)."""
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(exc, TimeoutError):  # aiohttp's per-read timeout (SocketTimeoutError, ServerTimeoutError)
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return httpx.UnsupportedProtocol(message)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(message)  # what httpcore says of a peer that closed mid-message
    return httpx.ReadError(message)  # resets and other OS errors on an open connection


class _Body(httpx.AsyncByteStream):
    """The response body, read as it arrives; closing it returns the connection to the pool (or drops it when
    the body was not read to the end, as a cancelled stream's is)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(_CHUNK):
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _mapped(exc) from exc

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx requests sent by one ``aiohttp.ClientSession`` (created on first use, inside the running loop).
    httpx's timeouts map to aiohttp's: ``connect`` per connection attempt, ``read`` per read, ``pool`` for the wait
    for a connection; proxies from the environment are honoured as httpx honours them."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,
                keepalive_timeout=self._limits.keepalive_expiry or 5.0,
            )
            # decoding stays with httpx (it reads Content-Encoding), so the response is the same on both transports.
            # trust_env: HTTP(S)_PROXY and NO_PROXY as httpx reads them; aiohttp then also looks up ~/.netrc on
            # every request, in a thread (a tenth of the CPU of a call): so only when the environment names a proxy
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, trust_env=bool(urllib.request.getproxies())
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        try:
            data: bytes | httpx.AsyncByteStream | None = request.content or None
        except httpx.RequestNotRead:  # a streamed request body
            data = request.stream  # type: ignore[assignment]
            request.headers.pop("transfer-encoding", None)  # aiohttp chunks it itself
        try:
            response = await self.session().request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=data,
                allow_redirects=False,
                compress=None,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _mapped(exc) from exc
        extensions = {"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()}
        return httpx.Response(
            response.status, headers=response.raw_headers, stream=_Body(response), extensions=extensions
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            await asyncio.sleep(0)  # let the connector's transports close before the loop may end

"""Reading an ASGI request body with a size cap: shared by the front door and the console, each raising its own
error (an OpenAI-shaped 413, a console 400) when the cap is passed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["read_body"]

Receive = Callable[[], Awaitable[dict[str, Any]]]


async def read_body(receive: Receive, max_bytes: int, too_large: Callable[[], Exception]) -> bytes:
    """The body's bytes, stopping at a disconnect; ``too_large()`` is raised once more than ``max_bytes`` arrived."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)

"""The console's HTML and static files, shipped in the package (``streams/console/static``): no CDN, no build.
The page is rendered on the server with the role baked in: a viewer's page has no replay controls at all."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from schemas.config import ConsoleRole
from schemas.events import DeadLetterReason

__all__ = ["Reply", "console_page", "login_page", "static_file"]

_TYPES = {".css": b"text/css; charset=utf-8", ".js": b"text/javascript; charset=utf-8", ".svg": b"image/svg+xml"}
_SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: bytes = b"application/json"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    @classmethod
    def page(cls, status: int, text: str, *headers: tuple[bytes, bytes]) -> Reply:
        return cls(status, text.encode(), b"text/html; charset=utf-8", [*_SECURITY_HEADERS, *headers])

    @classmethod
    def redirect(cls, to: str, *headers: tuple[bytes, bytes]) -> Reply:
        return cls(303, b"", b"text/plain", [(b"location", to.encode()), *headers])


@cache
def _asset(name: str) -> bytes | None:
    """A file of ``static/`` by its bare name (no path: nothing outside the folder can be asked for)."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    path = resources.files("streams.console").joinpath("static", name)
    return path.read_bytes() if path.is_file() else None


def static_file(name: str) -> Reply | None:
    body = _asset(name)
    kind = next((t for ext, t in _TYPES.items() if name.endswith(ext)), None)
    if body is None or kind is None:
        return None
    return Reply(200, body, kind, [(b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-cache")])


def login_page(status: int, message: str = "") -> Reply:
    text = (_asset("login.html") or b"").decode()
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    return Reply.page(status, text.replace("<!--message-->", note))


def console_page(role: ConsoleRole, refresh_s: float) -> Reply:
    """The page for ``role``: the replay controls are only in an admin's page."""
    text = (_asset("console.html") or b"").decode()
    replay = (_asset("replay.html") or b"").decode() if role is ConsoleRole.ADMIN else ""
    reasons = "".join(f'<option value="{r.value}">{r.value}</option>' for r in DeadLetterReason)
    text = text.replace("<!--replay-->", replay).replace("<!--reasons-->", reasons).replace("{{role}}", role.value)
    return Reply.page(200, text.replace("{{refresh_ms}}", str(int(refresh_s * 1000))))

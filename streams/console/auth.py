"""Who may look and who may replay: console keys (hashed, like the front door's) with a role, presented as
``Authorization: Bearer`` (scripts) or in an HttpOnly session cookie (the browser, whose ``EventSource`` cannot
set headers). Every stored digest is compared, in constant time, so the answer's timing says nothing about them."""

from __future__ import annotations

import hmac
from http.cookies import CookieError, SimpleCookie
from urllib.parse import quote, unquote

from infra.api_keys import bearer_token, hash_key
from schemas.config import ConsoleKey, ConsoleRole

__all__ = ["COOKIE", "ConsoleAuth", "clear_cookie", "cookie_value", "session_cookie"]

COOKIE = "llm_router_console"


def cookie_value(header: str | None, name: str) -> str | None:
    """The (unquoted) value of cookie ``name`` in a ``Cookie`` header, else None."""
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(name)
    return unquote(morsel.value) if morsel is not None and morsel.value else None


def session_cookie(key: str) -> bytes:
    """``Set-Cookie`` value holding ``key``: HttpOnly (no script reads it), SameSite=Strict (no other site's
    form or page sends it along)."""
    return f"{COOKIE}={quote(key, safe='')}; HttpOnly; SameSite=Strict; Path=/".encode()


def clear_cookie() -> bytes:
    return f"{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0".encode()


class ConsoleAuth:
    """The role of a request, from its key."""

    def __init__(self, keys: list[ConsoleKey]) -> None:
        self._keys = list(keys)

    def __len__(self) -> int:
        return len(self._keys)

    def key_of(self, presented: str | None) -> ConsoleKey | None:
        """The entry of the raw key ``presented``, None for an unknown or missing one."""
        if not presented:
            return None
        digest = hash_key(presented).encode()
        found: ConsoleKey | None = None
        for key in self._keys:  # no early exit: every digest is compared
            if hmac.compare_digest(digest, key.sha256.encode()):
                found = key
        return found

    def role_of_key(self, presented: str | None) -> ConsoleRole | None:
        key = self.key_of(presented)
        return key.role if key is not None else None

    def identify(self, headers: dict[str, str]) -> ConsoleKey | None:
        """The key of a request: a bearer key if one is given, else the session cookie's."""
        presented = bearer_token(headers.get("authorization")) or cookie_value(headers.get("cookie"), COOKIE)
        return self.key_of(presented)

    def role_of(self, headers: dict[str, str]) -> ConsoleRole | None:
        key = self.identify(headers)
        return key.role if key is not None else None

    @staticmethod
    def may_replay(role: ConsoleRole | None) -> bool:
        return role is ConsoleRole.ADMIN

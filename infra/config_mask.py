"""Secrets out of anything printed about a config: ``config show``, ``config diff``, logs.

A config holds few secrets by design (keys come from the environment or files), but some slip in: a literal
test key, a password in a Redis or Kafka URL, a token in a query string. Masking goes by field name and by the
shape of URLs, so a new field named like a secret is masked without anyone remembering to list it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["MASK", "mask_config", "mask_url", "mask_value", "secret_field"]

MASK = "***"
_SECRET_WORDS = frozenset({"key", "apikey", "password", "passwd", "token", "secret", "credential", "credentials"})
_SECRET_PARAMS = frozenset({"key", "api_key", "apikey", "token", "access_token", "password", "secret", "sig"})
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def secret_field(name: str) -> bool:
    """A field that holds a secret itself (``key``, ``sasl_password``), not where to find one (``key_env``,
    ``api_key_file``) nor a count or a prefix (``key_prefix``)."""
    words = name.lower().split("_")
    return words[-1] not in ("env", "file", "prefix") and not _SECRET_WORDS.isdisjoint(words)


def mask_url(text: str) -> str:
    """``redis://user:pass@host`` -> ``redis://user:***@host``, ``https://tok@h`` -> ``https://***@h``, and
    secret-named query parameters masked; anything that is not a URL is returned unchanged."""
    if not _URL.match(text):
        return text
    try:
        parts = urlsplit(text)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask_value(name: str, value: Any) -> Any:
    """``value`` (JSON-like data) of a field named ``name`` with every secret in it replaced by :data:`MASK`."""
    if isinstance(value, dict):
        return {k: mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(name, v) for v in value]
    if value is not None and secret_field(name):
        return MASK
    return mask_url(value) if isinstance(value, str) else value


def mask_config(data: dict[str, Any]) -> dict[str, Any]:
    """A dumped config (``model_dump(mode="json")``) with its secrets masked."""
    return {key: mask_value(key, value) for key, value in data.items()}

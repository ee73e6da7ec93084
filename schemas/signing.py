"""HMAC signatures on the wire: a tenant signs the value of each request it produces, the router signs the retry
state it attaches to a request waiting in a delay topic. Pure (no I/O, no clock): keys come in as bytes.

A signature header reads ``v1=<64 hex digits>``: HMAC-SHA256 over a context string (so a request signature can
never pass for a retry signature, or the reverse) and the length-prefixed parts it covers. Verification tries
every key in force (two during a rotation) with :func:`hmac.compare_digest`."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Final

__all__ = [
    "MIN_KEY_BYTES",
    "REQUEST_CONTEXT",
    "RETRY_CONTEXT",
    "sign",
    "sign_request",
    "sign_retry",
    "verify",
    "verify_request",
    "verify_retry",
]

#: shortest key accepted (``openssl rand -hex 32`` gives 64 characters)
MIN_KEY_BYTES: Final = 32
REQUEST_CONTEXT: Final = b"llm-router/request/v1"
RETRY_CONTEXT: Final = b"llm-router/retry/v1"
_SCHEME: Final = b"v1="
_HEADER_LEN: Final = len(_SCHEME) + 2 * hashlib.sha256().digest_size


def _mac(key: bytes, context: bytes, parts: Sequence[bytes]) -> bytes:
    mac = hmac.new(key, context, hashlib.sha256)
    for part in parts:  # length-prefixed: ("ab", "c") and ("a", "bc") sign differently
        mac.update(len(part).to_bytes(8, "big"))
        mac.update(part)
    return mac.digest()


def sign(key: bytes, context: bytes, *parts: bytes) -> bytes:
    """The header value signing ``parts`` under ``context`` with ``key``."""
    return _SCHEME + _mac(key, context, parts).hex().encode("ascii")


def verify(keys: Sequence[bytes], header: bytes | None, context: bytes, *parts: bytes) -> bool:
    """True when ``header`` is a signature of ``parts`` by one of ``keys``. Malformed or missing: False."""
    if header is None or len(header) != _HEADER_LEN or not header.startswith(_SCHEME):
        return False
    try:
        given = bytes.fromhex(header[len(_SCHEME) :].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return False
    ok = False
    for key in keys:  # every key is tried, so the time taken does not tell which one matched
        ok |= hmac.compare_digest(given, _mac(key, context, parts))
    return ok


def sign_request(key: bytes, value: bytes) -> bytes:
    """A tenant's signature over the record value of one request."""
    return sign(key, REQUEST_CONTEXT, value)


def verify_request(keys: Sequence[bytes], header: bytes | None, value: bytes) -> bool:
    return verify(keys, header, REQUEST_CONTEXT, value)


def sign_retry(key: bytes, state: bytes, value: bytes) -> bytes:
    """The router's signature over a retry state *and* the request it belongs to: a signed state cannot be moved
    onto another request."""
    return sign(key, RETRY_CONTEXT, state, value)


def verify_retry(keys: Sequence[bytes], header: bytes | None, state: bytes, value: bytes) -> bool:
    return verify(keys, header, RETRY_CONTEXT, state, value)

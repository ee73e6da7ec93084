"""Decoding never raises anything but MessageError, each with a precise code (issue 13, finding 1), and a dead
letter fits in a record whatever it carries (finding 2)."""

from __future__ import annotations

import hashlib
import json

import pytest

from schemas.errors import MessageError
from schemas.events import DeadLetter, DeadLetterReason, ErrorCode
from schemas.wire import bounded_dead_letter, decode_request, encode


@pytest.mark.parametrize(
    ("data", "code", "says"),
    [
        (b"[" * 50_000 + b"]" * 50_000, ErrorCode.JSON_TOO_DEEP, "nested"),
        (b'{"a": ' * 3_000 + b"1" + b"}" * 3_000, ErrorCode.JSON_TOO_DEEP, "nested"),
        (b'{"max_tokens": ' + b"9" * 5_000 + b"}", ErrorCode.NUMBER_TOO_LARGE, "digits"),
        (b'{"x": 1' + b"0" * 4_400 + b"}", ErrorCode.NUMBER_TOO_LARGE, "digits"),
        (b'{"a": "\xc3\x28"}', ErrorCode.INVALID_JSON, "UTF-8"),
        (b"null", ErrorCode.INVALID_JSON, "JSON object"),
    ],
)
def test_hostile_json_raises_a_message_error_with_a_precise_code(data: bytes, code: ErrorCode, says: str) -> None:
    with pytest.raises(MessageError) as caught:
        decode_request(data)
    assert caught.value.code == code and says in caught.value.message


def _letter(**kw: object) -> DeadLetter:
    return DeadLetter(reason=DeadLetterReason.INVALID_MESSAGE, error="bad", original_b64="", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, 100, 5_000, 20_000, 200_000])
def test_a_dead_letter_fits_the_limit_and_keeps_the_digest_and_length(size: int) -> None:
    original = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    letter = bounded_dead_letter(_letter(headers=[("traceparent", DeadLetter.b64(b"00-1"))]), original, limit=10_000)
    assert len(encode(letter)) <= 10_000
    assert (letter.original_len, letter.original_sha256) == (size, hashlib.sha256(original).hexdigest())
    assert original.startswith(letter.original_bytes())
    assert letter.original_truncated == (letter.original_bytes() != original)
    assert letter.original_truncated == (size > 5_000)  # base64 grows by a third: 20 KB never fits in 10 KB


def test_headers_too_large_for_the_letter_are_dropped_not_sent_over_the_limit() -> None:
    headers = [(f"h{i}", DeadLetter.b64(b"v" * 1_000)) for i in range(50)]
    letter = bounded_dead_letter(_letter(headers=headers, key_b64=DeadLetter.b64(b"k" * 20_000)), b"{}", limit=10_000)
    assert len(encode(letter)) <= 10_000 and letter.original_truncated
    assert letter.headers == [] and letter.key_b64 is None


def test_a_long_error_message_is_cut() -> None:
    letter = bounded_dead_letter(_letter().model_copy(update={"error": "e" * 50_000}), b"{}", limit=10_000)
    assert len(encode(letter)) <= 10_000 and letter.error.startswith("eee")


def test_the_letter_of_a_truncated_original_says_so_on_the_wire() -> None:
    letter = bounded_dead_letter(_letter(), b"y" * 50_000, limit=10_000)
    data = json.loads(encode(letter))
    assert data["original_truncated"] is True and data["original_len"] == 50_000

"""Decoding never raises anything but MessageError, each with a precise code (issue 13, finding 1), and a dead
letter fits in a record whatever it carries (finding 2)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from pydantic import BaseModel, field_validator

from schemas.errors import MessageError
from schemas.events import DeadLetter, DeadLetterReason, ErrorCode
from schemas.wire import bounded_dead_letter, decode, decode_request, encode


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


def test_json_too_deep_to_parse_says_so_exactly() -> None:
    with pytest.raises(MessageError) as caught:
        decode_request(b"[" * 50_000 + b"]" * 50_000)
    assert (caught.value.code, caught.value.message) == (ErrorCode.JSON_TOO_DEEP, "body is nested too deeply to parse")


class _Walked(BaseModel):
    """A model whose validator walks nested values, as deep as json.loads let them be."""

    tree: Any

    @field_validator("tree")
    @classmethod
    def _walk(cls, value: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded")  # what a walk of deep JSON ends in


def test_json_too_deep_to_validate_is_a_message_error_with_its_code() -> None:
    with pytest.raises(MessageError) as caught:
        decode(_Walked, b'{"tree": [[[]]]}')
    assert (caught.value.code, caught.value.message) == (
        ErrorCode.JSON_TOO_DEEP,
        "body is nested too deeply to validate",
    )


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


def _whole(letter: DeadLetter, original: bytes) -> DeadLetter:
    return bounded_dead_letter(letter, original, limit=10**9)


@pytest.mark.parametrize("extra", range(8))  # every remainder of the room modulo a base64 quantum, twice
def test_a_truncated_original_is_the_longest_prefix_that_fits_and_keeps_the_headers(extra: int) -> None:
    original = bytes(range(256)) * 100
    base = _letter(headers=[("traceparent", DeadLetter.b64(b"00-1"))], key_b64=DeadLetter.b64(b"k"))
    limit = 10_000 + extra
    letter = bounded_dead_letter(base, original, limit=limit)
    kept = letter.original_bytes()
    assert len(encode(letter)) <= limit and letter.original_truncated
    assert (letter.headers, letter.key_b64) == (base.headers, base.key_b64)
    assert 0 < len(kept) and original.startswith(kept) and len(kept) % 3 == 0
    longer = letter.model_copy(update={"original_b64": DeadLetter.b64(original[: len(kept) + 3])})
    assert len(encode(longer)) > limit  # three more bytes (four base64 characters) would not fit


@pytest.mark.parametrize("extra", range(4))
def test_without_its_headers_a_letter_still_keeps_the_longest_prefix_that_fits(extra: int) -> None:
    original = b"z" * 30_000
    headers = [(f"h{i}", DeadLetter.b64(b"v" * 1_000)) for i in range(20)]
    limit = 10_000 + extra
    letter = bounded_dead_letter(_letter(headers=headers), original, limit=limit)
    kept = letter.original_bytes()
    assert len(encode(letter)) <= limit and letter.headers == [] and letter.original_truncated
    assert 0 < len(kept) and original.startswith(kept)
    longer = letter.model_copy(update={"original_b64": DeadLetter.b64(original[: len(kept) + 3])})
    assert len(encode(longer)) > limit


def test_a_letter_exactly_at_the_limit_carries_the_whole_original() -> None:
    base, original = _letter(), b"x" * 3_000
    whole = _whole(base, original)
    letter = bounded_dead_letter(base, original, limit=len(encode(whole)))
    assert letter == whole and letter.original_bytes() == original and not letter.original_truncated


def test_headers_that_fit_exactly_with_an_empty_original_are_kept() -> None:
    base = _letter(headers=[("traceparent", DeadLetter.b64(b"00-1"))], key_b64=DeadLetter.b64(b"k"))
    original = b"x" * 3_000
    empty = _whole(base, original).model_copy(update={"original_b64": "", "original_truncated": True})
    letter = bounded_dead_letter(base, original, limit=len(encode(empty)))
    assert letter == empty and (letter.headers, letter.key_b64) == (base.headers, base.key_b64)


def test_bounding_a_truncated_letter_again_with_room_restores_the_whole_original() -> None:
    original = b"y" * 20_000
    truncated = bounded_dead_letter(_letter(), original, limit=10_000)
    assert truncated.original_truncated
    again = bounded_dead_letter(truncated, original, limit=10**9)
    assert again.original_bytes() == original and again.original_truncated is False
    assert json.loads(encode(again))["original_truncated"] is False

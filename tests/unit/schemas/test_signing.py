"""HMAC signatures of requests (by tenants) and retry states (by the router)."""

from __future__ import annotations

import pytest

from schemas.signing import sign_request, sign_retry, verify_request, verify_retry

KEY = b"k" * 32
OLD = b"o" * 32
OTHER = b"x" * 32


def test_a_request_signature_verifies_with_its_key_and_no_other() -> None:
    header = sign_request(KEY, b"value")
    assert header.startswith(b"v1=") and len(header) == 3 + 64
    assert verify_request([KEY], header, b"value")
    assert not verify_request([OTHER], header, b"value")
    assert not verify_request([KEY], header, b"value2")


def test_during_a_rotation_either_key_in_force_verifies() -> None:
    assert verify_request([KEY, OLD], sign_request(OLD, b"v"), b"v")
    assert verify_request([KEY, OLD], sign_request(KEY, b"v"), b"v")
    assert not verify_request([KEY], sign_request(OLD, b"v"), b"v")  # the old key retired


def test_no_key_verifies_nothing() -> None:
    assert not verify_request([], sign_request(KEY, b"v"), b"v")


@pytest.mark.parametrize(
    "header",
    [None, b"", b"v1=", b"v1=zz" + b"0" * 62, b"v2=" + b"0" * 64, b"v1=" + b"0" * 63, "v1=é".encode() + b"0" * 62],
)
def test_malformed_headers_do_not_verify(header: bytes | None) -> None:
    assert not verify_request([KEY], header, b"v")


def test_a_request_signature_is_no_retry_signature_and_the_reverse() -> None:
    assert not verify_retry([KEY], sign_request(KEY, b"v"), b"", b"v")
    assert not verify_request([KEY], sign_retry(KEY, b"", b"v"), b"v")


def test_a_retry_signature_binds_the_state_to_its_record() -> None:
    header = sign_retry(KEY, b'{"rounds":1}', b"request")
    assert verify_retry([KEY], header, b'{"rounds":1}', b"request")
    assert not verify_retry([KEY], header, b'{"rounds":9}', b"request")
    assert not verify_retry([KEY], header, b'{"rounds":1}', b"another request")
    assert not verify_retry([KEY], header, b'{"rounds":1}r', b"equest")  # parts are length-prefixed

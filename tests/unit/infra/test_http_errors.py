import email.utils

import httpx
import pytest

from infra.providers.http_errors import error_from_exception, error_from_response, parse_retry_after


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"Retry-After": "-4"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(30, abs=1)


@pytest.mark.parametrize(
    ("status", "retriable", "code"),
    [
        (400, False, "provider_rejected"),
        (401, False, "provider_rejected"),
        (404, False, "provider_rejected"),
        (408, True, "provider_transient"),
        (429, True, "rate_limited"),
        (500, True, "provider_unavailable"),
        (503, True, "provider_unavailable"),
        (504, True, "provider_unavailable"),
    ],
)
def test_status_classification(status: int, retriable: bool, code: str) -> None:
    resp = httpx.Response(status, json={"error": {"message": "boom"}}, headers={"Retry-After": "2"})
    err = error_from_response("b1", resp)
    assert (err.retriable, err.code, err.status, err.retry_after) == (retriable, code, status, 2.0)
    assert "boom" in err.message and "b1" in err.message


def test_transport_errors_are_retriable() -> None:
    assert error_from_exception("b", httpx.ReadTimeout("t")).code == "provider_timeout"
    assert error_from_exception("b", httpx.ConnectError("refused")).retriable
    assert not error_from_exception("b", ValueError("x")).retriable


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("2.5", 2.5), ("soon", None), ("", None)],
)
def test_parse_duration(raw: str, seconds: float | None) -> None:
    from infra.providers.http_errors import parse_duration

    assert parse_duration(raw) == (pytest.approx(seconds) if seconds is not None else None)


def test_parse_reset_time() -> None:
    from infra.providers.http_errors import parse_reset_time

    assert parse_reset_time("2023-11-14T22:13:50Z", now=1_700_000_000.0) == pytest.approx(30.0)
    assert parse_reset_time("garbage") is None

import email.utils

import httpx
import pytest

from infra.providers.http_errors import (
    BackendFault,
    backend_fault,
    error_from_exception,
    error_from_response,
    parse_retry_after,
)


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
        (401, False, "provider_auth"),
        (403, False, "provider_auth"),
        (404, False, "provider_model_not_found"),
        (422, False, "provider_rejected"),
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


@pytest.mark.parametrize(
    ("status", "listed", "fault"),
    [
        (401, False, BackendFault("credentials rejected (401)", unhealthy=True)),
        (401, True, BackendFault("credentials rejected (401)", unhealthy=True)),
        (403, True, BackendFault("access denied (403)", unhealthy=True)),
        (403, False, BackendFault("access denied (403)", unhealthy=False)),
        (404, True, BackendFault("model not found (404)", unhealthy=True)),
        (404, False, BackendFault("model not found (404)", unhealthy=False)),
        (400, True, None),
        (422, True, None),
        (429, True, None),
        (500, True, None),
    ],
)
def test_backend_faults_are_failed_over_and_switch_the_backend_off_only_when_it_is_to_blame(
    status: int, listed: bool, fault: BackendFault | None
) -> None:
    """401/403/404 are the backend's (fail over); a 403/404 for a model reached only through "*" came from the
    request and must not switch the backend off for everyone; a 400 is the request's own fault."""
    error = error_from_response("b1", httpx.Response(status, json={"error": {"message": "no"}}))
    assert backend_fault(error, model_listed=listed) == fault

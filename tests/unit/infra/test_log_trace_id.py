"""The trace id a request's lines carry is the trace it is really in: with tracing on and a span current, the
span's trace id (a new root when the header was bad or missing), not whatever the header claimed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.util._once import Once

from infra import tracing
from infra.log_context import trace_id_of

HEADER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
VALID = f"00-{HEADER_TRACE}-00f067aa0ba902b7-01".encode()


@pytest.fixture
def provider() -> Iterator[None]:
    """An SDK provider installed for the test and removed after (as OpenTelemetry's own tests reset it)."""
    sdk = TracerProvider()
    assert tracing.install_provider(sdk)
    yield
    sdk.shutdown()
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@pytest.mark.parametrize("headers", [[], [("traceparent", b"junk")], [("traceparent", VALID), ("traceparent", VALID)]])
def test_a_bad_or_missing_header_logs_the_new_root_trace(provider: None, headers: list[tuple[str, bytes]]) -> None:
    with tracing.span(tracing.SpanName.CONSUME, parent=tracing.extract(headers)) as span:
        expected = format(span.get_span_context().trace_id, "032x")
        assert trace_id_of(headers) == expected != HEADER_TRACE


def test_a_valid_header_is_the_trace_of_the_child_span(provider: None) -> None:
    headers = [("traceparent", VALID)]
    with tracing.span(tracing.SpanName.CONSUME, parent=tracing.extract(headers)):
        assert trace_id_of(headers) == HEADER_TRACE


def test_without_tracing_the_header_is_read() -> None:
    assert trace_id_of([("traceparent", VALID)]) == HEADER_TRACE


def test_before_the_span_starts_a_header_the_tracer_ignores_is_no_trace_id(provider: None) -> None:
    """The worker binds the trace id before its consume span starts: a duplicated header (valid alone, ignored by
    the tracer) binds nothing, and the log setup adds the new root span's id to lines logged inside it."""
    assert trace_id_of([("traceparent", VALID), ("traceparent", VALID)]) is None
    assert trace_id_of([("traceparent", VALID)]) == HEADER_TRACE

"""W3C trace context in Kafka headers: what a producer writes is untrusted, so a malformed, oversized or
duplicated ``traceparent`` is ignored (the consumer starts a new trace) and never raises; and the SDK is built
from ``tracing`` settings only when enabled."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.util._once import Once

from infra import tracing
from schemas.config import TracingSettings
from schemas.wire import Header

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{SPAN_ID}-01".encode()


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """A global SDK provider recording into memory, removed after the test (the API sets it once per process:
    the reset is what OpenTelemetry's own tests do)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with installed(provider):
        yield memory


@contextmanager
def installed(provider: TracerProvider) -> Iterator[None]:
    """``provider`` as the global one for a while: the API sets it once per process, so the test undoes it as
    OpenTelemetry's own tests do (``opentelemetry.test.globals_test.reset_trace_globals``)."""
    assert tracing.install_provider(provider)
    try:
        yield
    finally:
        provider.shutdown()
        trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
        trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]


def _span_context(ctx: object) -> SpanContext:
    return trace.get_current_span(ctx).get_span_context()  # type: ignore[arg-type]


def test_a_valid_traceparent_is_the_remote_parent() -> None:
    ctx = tracing.extract([(Header.REQUEST_ID, b"r1"), (Header.TRACEPARENT, VALID)])
    assert ctx is not None
    parent = _span_context(ctx)
    assert parent.is_remote
    assert trace.format_trace_id(parent.trace_id) == TRACE_ID
    assert trace.format_span_id(parent.span_id) == SPAN_ID
    assert parent.trace_flags.sampled


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"garbage",
        b"00-" + b"0" * 32 + b"-00f067aa0ba902b7-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01".encode(),  # all-zero span id
        f"ff-{TRACE_ID}-{SPAN_ID}-01".encode(),  # forbidden version
        f"00-{TRACE_ID.upper()}-{SPAN_ID}-01".encode(),  # upper-case hex is invalid
        f"00-{TRACE_ID}-{SPAN_ID}-01-extra".encode(),  # version 00 has exactly four fields
        f"00-{TRACE_ID}-{SPAN_ID}".encode(),  # no flags
        "00-4bf92f3577b34da6a3ce929d0e0e473é-00f067aa0ba902b7-01".encode(),  # not ASCII
        b"\xff\xfe\x00" * 20,  # not text at all
        b"01-" + TRACE_ID.encode() + b"-" + SPAN_ID.encode() + b"-01-" + b"a" * 4000,  # oversized
    ],
)
def test_a_malformed_traceparent_is_ignored(value: bytes) -> None:
    assert tracing.extract([(Header.TRACEPARENT, value)]) is None


def test_two_traceparents_are_ambiguous_and_ignored() -> None:
    other = f"00-{'1' * 32}-{SPAN_ID}-01".encode()
    assert tracing.extract([(Header.TRACEPARENT, VALID), (Header.TRACEPARENT, other)]) is None


def test_no_traceparent_is_no_parent() -> None:
    assert tracing.extract([]) is None
    assert tracing.extract([(Header.TRACESTATE, b"a=b")]) is None


def test_a_valid_tracestate_is_kept() -> None:
    ctx = tracing.extract([(Header.TRACEPARENT, VALID), (Header.TRACESTATE, b"vendor=abc,tenant@sys=x1")])
    assert ctx is not None
    assert dict(_span_context(ctx).trace_state) == {"vendor": "abc", "tenant@sys": "x1"}


@pytest.mark.parametrize("state", [b"Not Valid=\x01", b"a=b," * 200, b"\xff\xfe", b"=novalue"])
def test_a_malformed_tracestate_is_dropped_quietly_and_the_parent_kept(
    state: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        ctx = tracing.extract([(Header.TRACEPARENT, VALID), (Header.TRACESTATE, state)])
    assert ctx is not None
    assert trace.format_trace_id(_span_context(ctx).trace_id) == TRACE_ID
    assert len(_span_context(ctx).trace_state) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # producer input is not echoed in logs


def test_inject_without_a_current_span_leaves_the_headers_as_they_are() -> None:
    headers = [(Header.REQUEST_ID, b"r1"), (Header.TRACEPARENT, VALID)]
    assert tracing.inject(headers) == headers


def test_inject_replaces_the_trace_headers_with_the_current_span() -> None:
    ours = SpanContext(trace_id=0xABC, span_id=0xDEF, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    headers = [(Header.REQUEST_ID, b"r1"), (Header.TRACEPARENT, VALID), (Header.TRACESTATE, b"x=y")]
    with trace.use_span(NonRecordingSpan(ours)):
        out = tracing.inject(headers)
    assert out[0] == (Header.REQUEST_ID, b"r1")
    parents = [v for k, v in out if k == Header.TRACEPARENT]
    assert parents == [f"00-{ours.trace_id:032x}-{ours.span_id:016x}-01".encode()]
    assert not [v for k, v in out if k == Header.TRACESTATE]  # our span has no trace state: the old one goes
    assert all(isinstance(k, str) and isinstance(v, bytes) for k, v in out)


def test_without_an_sdk_spans_are_free_and_record_nothing() -> None:
    assert not tracing.active()
    with tracing.span(tracing.SpanName.CONSUME, headers=[(Header.TRACEPARENT, VALID)]) as span:
        assert not span.is_recording()
        assert trace.get_current_span() is trace.INVALID_SPAN  # nothing attached to the context
    assert tracing.start_span(tracing.SpanName.SCHEDULE_WAIT) is trace.INVALID_SPAN


def test_a_consumed_record_continues_the_producers_trace(exporter: InMemorySpanExporter) -> None:
    assert tracing.active()
    with tracing.span(tracing.SpanName.PRODUCE):
        headers = tracing.inject([(Header.REQUEST_ID, b"r1")])
    with tracing.span(tracing.SpanName.CONSUME, parent=tracing.extract(headers)):
        pass
    produce, consume = exporter.get_finished_spans()
    assert consume.context.trace_id == produce.context.trace_id
    assert consume.parent is not None and consume.parent.span_id == produce.context.span_id
    assert consume.kind is trace.SpanKind.CONSUMER and produce.kind is trace.SpanKind.PRODUCER


def test_a_malformed_parent_starts_a_new_root_even_inside_a_span(exporter: InMemorySpanExporter) -> None:
    with tracing.span(tracing.SpanName.ROUTE):
        with tracing.span(tracing.SpanName.CONSUME, parent=tracing.extract([(Header.TRACEPARENT, b"junk")])):
            pass
    consume = next(s for s in exporter.get_finished_spans() if s.name == tracing.SpanName.CONSUME)
    assert consume.parent is None


def test_an_exception_marks_the_span_failed_and_propagates(exporter: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError), tracing.span(tracing.SpanName.ROUTE):
        raise ValueError("boom")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is trace.StatusCode.ERROR


def test_finish_ends_a_started_span_once(exporter: InMemorySpanExporter) -> None:
    span = tracing.start_span(tracing.SpanName.SCHEDULE_WAIT, attributes={"llm.priority": "high"})
    tracing.finish(span)
    tracing.finish(span, error="too late")  # already ended: no second end, no warning
    (done,) = exporter.get_finished_spans()
    assert done.attributes == {"llm.priority": "high"}
    assert done.status.status_code is trace.StatusCode.UNSET


def test_disabled_settings_install_nothing() -> None:
    assert tracing.setup_tracing(TracingSettings()) is None
    assert not tracing.active()


def test_the_provider_samples_new_traces_by_ratio_and_follows_parents() -> None:
    provider = tracing.build_provider(TracingSettings(enabled=True, exporter="none", sampling_ratio=0.25))
    try:
        sampler = provider.sampler
        assert isinstance(sampler, ParentBased)
        assert "TraceIdRatioBased{0.25}" in sampler.get_description()
        assert provider.resource.attributes["service.name"] == "llm-router"
    finally:
        provider.shutdown()


def test_the_otlp_exporter_is_built_with_the_endpoint() -> None:
    settings = TracingSettings(enabled=True, exporter="otlp", endpoint="http://collector.example:4318/v1/traces")
    exporter = tracing.build_exporter(settings)
    assert exporter is not None
    assert type(exporter).__name__ == "OTLPSpanExporter"
    assert exporter._endpoint == "http://collector.example:4318/v1/traces"  # type: ignore[attr-defined]


def test_ratio_zero_samples_nothing_new() -> None:
    provider = tracing.build_provider(TracingSettings(enabled=True, exporter="none", sampling_ratio=0.0))
    try:
        span = provider.get_tracer("t").start_span("x")
        assert not span.is_recording()
    finally:
        provider.shutdown()


def test_the_sdk_is_not_installed_when_a_provider_is_already_there(exporter: InMemorySpanExporter) -> None:
    before = trace.get_tracer_provider()
    assert tracing.setup_tracing(TracingSettings(enabled=True, exporter="none")) is None
    assert trace.get_tracer_provider() is before  # the embedding application's provider is kept

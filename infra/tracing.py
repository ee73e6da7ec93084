"""Distributed tracing with OpenTelemetry: span helpers, the W3C trace context in Kafka headers, and the SDK set up
from ``tracing`` settings.

One trace follows a request from the client's produce, through the router's consume (and every hop through a
retry topic), to the response the client consumes: each producer writes ``traceparent``/``tracestate`` of its
span into the record's headers (:func:`inject`), each consumer starts its span as their child (:func:`extract`).
Headers are written by producers, hence untrusted: a malformed, oversized or duplicated ``traceparent`` is
ignored (a new trace starts), a malformed ``tracestate`` is dropped, and neither is ever logged nor raises.

Off by default: without an SDK tracer provider (``tracing.enabled: false`` and no application that installed
one) :func:`span` yields the API's invalid span without touching the context, so tracing costs a function call.
Library mode uses whatever provider the embedding application installed, so a request becomes a child of the
caller's current span. The SDK and its exporters are imported only when tracing is set up."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from enum import StrEnum
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.environment_variables import OTEL_PYTHON_TRACER_PROVIDER
from opentelemetry.trace import INVALID_SPAN, NoOpTracerProvider, ProxyTracerProvider, Span, SpanKind, Status
from opentelemetry.trace import StatusCode as _StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from schemas.config import TracingSettings
from schemas.errors import ConfigError
from schemas.wire import TRACE_HEADERS, Header

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = [
    "Attr",
    "AttributeValue",
    "SpanName",
    "active",
    "annotate",
    "build_exporter",
    "build_provider",
    "extract",
    "finish",
    "inject",
    "install_provider",
    "mark_error",
    "record_attributes",
    "setup_tracing",
    "span",
    "start_span",
]

log = logging.getLogger(__name__)

TRACER_NAME = "llm_router"
#: a version-00 ``traceparent`` is 55 characters; later versions may append fields, within reason
MAX_TRACEPARENT_BYTES = 256
#: W3C: a ``tracestate`` of at most 32 members, 512 characters is always propagated; longer ones may be dropped
MAX_TRACESTATE_BYTES = 512
MAX_TRACESTATE_MEMBERS = 32
_STATE_KEY = r"(?:[a-z][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})"
_STATE_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_STATE_MEMBER = re.compile(f"{_STATE_KEY}={_STATE_VALUE}")
_PROPAGATOR = TraceContextTextMapPropagator()
_NOOP: AbstractContextManager[Span] = nullcontext(INVALID_SPAN)


class SpanName(StrEnum):
    """The router's spans. Service mode: PRODUCE → CONSUME (one round: CACHE_LOOKUP, ROUTE, SCHEDULE_WAIT,
    PROVIDER_ATTEMPT..., then RESPONSE_PRODUCE or RETRY_PRODUCE → RETRY_FORWARD → CONSUME of the next round)
    → RESPONSE_RECEIVE. Library mode: REQUEST holds every round's spans."""

    PRODUCE = "llm.request.produce"  # client SDK: the request record to its class topic
    CONSUME = "llm.request.consume"  # router: one request record consumed, one round served
    REQUEST = "llm.request"  # library mode: one request, all its rounds
    CACHE_LOOKUP = "llm.cache.lookup"
    ROUTE = "llm.route"  # the routing decision: route, candidates
    SCHEDULE_WAIT = "llm.schedule.wait"  # waiting for a provider slot in scheduler order
    PROVIDER_ATTEMPT = "llm.provider.attempt"  # one provider call (failover and retries: siblings)
    RESPONSE_PRODUCE = "llm.response.produce"  # the answer to the reply topic
    RETRY_PRODUCE = "llm.retry.produce"  # the record to a delay topic
    RETRY_FORWARD = "llm.retry.forward"  # the delay topic's forwarder: waits, re-produces to the class topic
    RESPONSE_RECEIVE = "llm.response.receive"  # client SDK: the answer consumed


_KINDS = {
    SpanName.PRODUCE: SpanKind.PRODUCER,
    SpanName.RESPONSE_PRODUCE: SpanKind.PRODUCER,
    SpanName.RETRY_PRODUCE: SpanKind.PRODUCER,
    SpanName.CONSUME: SpanKind.CONSUMER,
    SpanName.RETRY_FORWARD: SpanKind.CONSUMER,
    SpanName.RESPONSE_RECEIVE: SpanKind.CONSUMER,
    SpanName.PROVIDER_ATTEMPT: SpanKind.CLIENT,
}


class Attr:
    """Span attribute names: OpenTelemetry's messaging conventions, and the router's own under ``llm.``."""

    MESSAGING_SYSTEM = "messaging.system"
    DESTINATION = "messaging.destination.name"
    PARTITION = "messaging.destination.partition.id"
    OFFSET = "messaging.kafka.offset"
    REQUEST_ID = "llm.request_id"
    TENANT = "llm.tenant"
    PRIORITY = "llm.priority"
    ROUTE = "llm.route"
    MODEL = "llm.model"
    BACKEND = "llm.backend"
    CANDIDATES = "llm.candidates"
    CACHE_RESULT = "llm.cache.result"
    OUTCOME = "llm.outcome"
    ERROR_CODE = "llm.error_code"
    RETRY_DELAY_S = "llm.retry.delay_s"
    ROUND = "llm.round"


#: the API's ``get_tracer_provider`` reads the environment on every call while none is set (microseconds per
#: span, on every request of a worker that does not trace); its module global says the same at once. The public
#: call stays the way when the provider comes from ``OTEL_PYTHON_TRACER_PROVIDER`` (set lazily by that call) or
#: when a later API renames the global.
_GLOBAL_READABLE = hasattr(trace, "_TRACER_PROVIDER") and OTEL_PYTHON_TRACER_PROVIDER not in os.environ


def active() -> bool:
    """True when an SDK tracer provider is installed (ours from config, or the embedding application's)."""
    if _GLOBAL_READABLE:
        provider = getattr(trace, "_TRACER_PROVIDER", None)
        if provider is None:
            return False
    else:
        provider = trace.get_tracer_provider()
    return not isinstance(provider, ProxyTracerProvider | NoOpTracerProvider)


_cached: tuple[trace.TracerProvider, trace.Tracer] | None = None


def _tracer() -> trace.Tracer:
    global _cached
    provider = trace.get_tracer_provider()
    if _cached is None or _cached[0] is not provider:
        _cached = (provider, provider.get_tracer(TRACER_NAME))
    return _cached[1]


def span(
    name: SpanName,
    *,
    parent: Context | None = None,
    headers: Sequence[tuple[str, bytes]] | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> AbstractContextManager[Span]:
    """A span current for the block, child of the current span, or of ``parent``, or of the span a consumed
    record's ``headers`` name; its kind follows from its name (producer, consumer, client or internal). A consumer
    span's parent is only what its record carried (nothing valid: a new trace), never a span that happens to be
    current in the consuming task. An exception marks the span failed and propagates. Without an SDK: the invalid
    span, and nothing else is done (the headers are not even parsed)."""
    if not active():
        return _NOOP
    if headers is not None:
        parent = extract(headers)
    kind = _KINDS.get(name, SpanKind.INTERNAL)
    if parent is None and kind is SpanKind.CONSUMER:
        parent = Context()
    return _tracer().start_as_current_span(name, context=parent, kind=kind, attributes=attributes)


def start_span(name: SpanName, *, attributes: Mapping[str, AttributeValue] | None = None) -> Span:
    """A child of the current span that is not made current (a wait that ends inside a longer block): end it
    with :func:`finish`."""
    if not active():
        return INVALID_SPAN
    return _tracer().start_span(name, kind=_KINDS.get(name, SpanKind.INTERNAL), attributes=attributes)


def annotate(attributes: Mapping[str, AttributeValue | None]) -> None:
    """Set ``attributes`` (``None`` values left out) on the current span; nothing without one."""
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes({k: v for k, v in attributes.items() if v is not None})


def mark_error(target: Span, message: str) -> None:
    target.set_status(Status(_StatusCode.ERROR, message))


def finish(target: Span, *, error: str | None = None) -> None:
    """End ``target`` (failed when ``error``) unless it has ended already."""
    if not target.is_recording():
        return
    if error is not None:
        mark_error(target, error)
    target.end()


def record_attributes(topic: str, partition: int | None = None, offset: int | None = None) -> dict[str, AttributeValue]:
    """Messaging attributes of a Kafka record."""
    attrs: dict[str, AttributeValue] = {Attr.MESSAGING_SYSTEM: "kafka", Attr.DESTINATION: topic}
    if partition is not None:
        attrs[Attr.PARTITION] = str(partition)
    if offset is not None:
        attrs[Attr.OFFSET] = offset
    return attrs


# --- W3C trace context in Kafka headers ---


def _ascii(value: bytes, limit: int) -> str | None:
    if len(value) > limit:
        return None
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() else None


def _trace_state(values: list[bytes]) -> str | None:
    """The one ``tracestate`` when it is well-formed (checked here, so that the propagator never logs producer
    input), else ``None``."""
    if len(values) != 1:
        return None
    text = _ascii(values[0], MAX_TRACESTATE_BYTES)
    if text is None:
        return None
    members = [m.strip(" \t") for m in text.split(",")]
    members = [m for m in members if m]
    if len(members) > MAX_TRACESTATE_MEMBERS or not all(_STATE_MEMBER.fullmatch(m) for m in members):
        return None
    return text


def extract(headers: Sequence[tuple[str, bytes]]) -> Context | None:
    """The producer's span context in a record's ``headers``, as a parent; ``None`` when there is none or it is
    malformed, oversized or given twice. Never raises."""
    parents = [v for k, v in headers if k == Header.TRACEPARENT]
    if len(parents) != 1:
        return None
    parent = _ascii(parents[0], MAX_TRACEPARENT_BYTES)
    if parent is None:
        return None
    carrier = {Header.TRACEPARENT: parent}
    state = _trace_state([v for k, v in headers if k == Header.TRACESTATE])
    if state is not None:
        carrier[Header.TRACESTATE] = state
    try:
        ctx = _PROPAGATOR.extract(carrier)
    except Exception:  # a propagator bug must not fail a request
        return None
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def inject(headers: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """``headers`` with the trace context of the current span in place of any the record had; unchanged when no
    span is current (then the producer's own context travels on as it came)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return list(headers)
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    kept = [(k, v) for k, v in headers if k not in TRACE_HEADERS]
    return [*kept, *((k, v.encode("ascii")) for k, v in carrier.items())]


# --- the SDK, from settings ---


def build_exporter(settings: TracingSettings) -> SpanExporter | None:
    """The configured exporter (``None`` for ``none``). OTLP needs the ``otlp`` extra."""
    if settings.exporter == "none":
        return None
    if settings.exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ConfigError("tracing.exporter: otlp needs the OTLP exporter: pip install 'llm-router[otlp]'") from exc
    return OTLPSpanExporter(endpoint=settings.endpoint)


def build_provider(settings: TracingSettings) -> SdkTracerProvider:
    """An SDK tracer provider: new traces sampled at ``sampling_ratio``, a request with a parent as its parent
    was; spans exported in batches off the event loop (the SDK's exporter thread)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name}),
        sampler=ParentBased(TraceIdRatioBased(settings.sampling_ratio)),
    )
    exporter = build_exporter(settings)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def install_provider(provider: trace.TracerProvider) -> bool:
    """Make ``provider`` the process's tracer provider; False when one is installed already (the API allows
    one per process)."""
    if active():
        return False
    trace.set_tracer_provider(provider)
    return trace.get_tracer_provider() is provider


def setup_tracing(settings: TracingSettings) -> SdkTracerProvider | None:
    """Install the SDK when ``settings.enabled`` and no provider is there yet; the installed provider (flush it
    on shutdown), or ``None`` when nothing was installed."""
    if not settings.enabled:
        return None
    if active():
        log.info("tracing: a tracer provider is installed already (the application's); the router's spans go there")
        return None
    provider = build_provider(settings)
    if not install_provider(provider):
        provider.shutdown()
        return None
    where = settings.endpoint or "default endpoint" if settings.exporter == "otlp" else ""
    log.info("tracing on: exporter %s %s, sampling ratio %g", settings.exporter, where, settings.sampling_ratio)
    return provider

"""One OpenTelemetry trace per request across the Kafka hops: the client's produce span (recorded here by the
SDK's InMemorySpanExporter) → the worker's consume span and its children (exported by the real worker process
over OTLP/HTTP to a receiver in this test) → the response the client consumes; through a retry topic too. And
library mode, in process: a request is a child of the caller's current span."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import pytest
from aiohttp import web
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from infra.tracing import Attr, SpanName
from schemas.events import ChatMessage, ChatRequest, ChatResponse, FailureEvent
from schemas.wire import Header, encode
from streams.library import Router
from streams.processes import start_worker
from tests.integration.conftest import EnvFactory, RouterEnv, free_port
from tests.integration.helpers import gather_responses, read_topic

pytestmark = pytest.mark.integration

NO_SEMANTIC = {"semantic": False}  # the exact cache still looks up; no embedding model to load


@dataclass(frozen=True)
class Rec:
    """A finished span, from either side, reduced to what the tree needs."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    attributes: dict[str, Any]
    error: bool
    where: str  # "client" (in memory) or "worker" (OTLP)


def _from_sdk(span: ReadableSpan) -> Rec:
    ctx = span.context
    assert ctx is not None
    return Rec(
        span.name,
        f"{ctx.trace_id:032x}",
        f"{ctx.span_id:016x}",
        f"{span.parent.span_id:016x}" if span.parent is not None else None,
        dict(span.attributes or {}),
        span.status.status_code is trace.StatusCode.ERROR,
        "client",
    )


def _from_otlp(body: bytes) -> list[Rec]:
    request = ExportTraceServiceRequest.FromString(body)
    out = []
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for s in scope.spans:
                attrs = {a.key: _value(a.value) for a in s.attributes}
                parent = s.parent_span_id.hex() or None
                error = s.status.code == 2  # STATUS_CODE_ERROR
                out.append(Rec(s.name, s.trace_id.hex(), s.span_id.hex(), parent, attrs, error, "worker"))
    return out


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind is not None else None


@dataclass
class Collector:
    """An OTLP/HTTP traces receiver (what an OpenTelemetry collector offers on :4318)."""

    url: str
    spans: list[Rec] = field(default_factory=list)


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    port = free_port()
    found = Collector(f"http://127.0.0.1:{port}/v1/traces")

    async def receive(request: web.Request) -> web.Response:
        found.spans.extend(_from_otlp(await request.read()))
        body = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield found
    finally:
        await runner.cleanup()


@pytest.fixture
def memory() -> Iterator[InMemorySpanExporter]:
    """This process's spans (client SDK, library mode) in memory; the global provider is undone afterwards, as
    OpenTelemetry's own tests do (the API sets it once per process)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with _installed(provider):
        yield exporter


@contextmanager
def _installed(provider: TracerProvider) -> Iterator[None]:
    trace.set_tracer_provider(provider)
    assert trace.get_tracer_provider() is provider
    try:
        yield
    finally:
        provider.shutdown()
        trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
        trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]


async def _traced_env(make_env: EnvFactory, collector: Collector, **sections: Any) -> RouterEnv:
    env = await make_env(
        tracing={"enabled": True, "exporter": "otlp", "endpoint": collector.url, "sampling_ratio": 1.0},
        cache=NO_SEMANTIC,
        **sections,
    )
    # the SDK's batch exporter sends every 5 s by default: sooner here, so the test polls less
    worker = start_worker(env.config_path, env.log_dir / "worker-0.log", env={"OTEL_BSP_SCHEDULE_DELAY": "100"})
    env.workers.append(worker)
    return env


def _request(tag: str, **kw: Any) -> ChatRequest:
    return ChatRequest(request_id=f"{tag}-{time.time_ns()}", messages=[ChatMessage(role="user", content=tag)], **kw)


async def _spans_of(
    trace_id: str, memory: InMemorySpanExporter, collector: Collector, *, until: set[str], env: RouterEnv
) -> list[Rec]:
    """Every span of ``trace_id`` from both sides, once spans named ``until`` have arrived and every parent named
    is there (the worker exports a span when it ends: a parent comes after its children)."""
    deadline = time.monotonic() + 30
    while True:
        spans = [_from_sdk(s) for s in memory.get_finished_spans()] + list(collector.spans)
        mine = [s for s in spans if s.trace_id == trace_id]
        ids = {s.span_id for s in mine}
        dangling = [s for s in mine if s.parent_id is not None and s.parent_id not in ids]
        if until <= {s.name for s in mine} and not dangling:
            return mine
        if time.monotonic() > deadline:
            names = sorted((s.where, s.name) for s in mine)
            raise AssertionError(f"spans of {trace_id} after 30 s: {names}\n{env.workers[0].tail(30)}")
        await asyncio.sleep(0.1)


def _one(spans: list[Rec], name: str, **where: Any) -> Rec:
    found = [s for s in spans if s.name == name and all(getattr(s, k) == v for k, v in where.items())]
    assert len(found) == 1, (name, where, found)
    return found[0]


def _children(spans: list[Rec], parent: Rec) -> list[Rec]:
    return [s for s in spans if s.parent_id == parent.span_id]


async def _ask(env: RouterEnv, request: ChatRequest) -> tuple[ChatResponse, str]:
    """Submit inside a caller's span (the trace's root); the response and the trace id."""
    caller = trace.get_tracer("test").start_as_current_span("caller")
    async with env.client() as client:
        with caller as root:
            fut = await client.submit(request)
        [response] = await gather_responses([fut], 60, env.workers)
    return response, f"{root.get_span_context().trace_id:032x}"


async def test_one_trace_from_client_to_router_to_response_consumer(
    make_env: EnvFactory, collector: Collector, memory: InMemorySpanExporter
) -> None:
    env = await _traced_env(make_env, collector)
    request = _request("hop")
    response, trace_id = await _ask(env, request)
    assert response.status == "ok", response.error
    spans = await _spans_of(trace_id, memory, collector, until={SpanName.RESPONSE_RECEIVE}, env=env)

    caller = _one(spans, "caller")
    produce = _one(spans, SpanName.PRODUCE, where="client")
    assert produce.parent_id == caller.span_id  # the client SDK continues its caller's trace
    assert produce.attributes[Attr.REQUEST_ID] == request.request_id
    consume = _one(spans, SpanName.CONSUME, where="worker")
    assert consume.parent_id == produce.span_id  # across the Kafka hop
    assert consume.attributes[Attr.REQUEST_ID] == request.request_id
    under = {s.name for s in _children(spans, consume)}
    assert under == {
        SpanName.CACHE_LOOKUP,
        SpanName.ROUTE,
        SpanName.SCHEDULE_WAIT,
        SpanName.PROVIDER_ATTEMPT,
        SpanName.RESPONSE_PRODUCE,
    }
    attempt = _one(spans, SpanName.PROVIDER_ATTEMPT)
    assert attempt.attributes[Attr.BACKEND] == env.backend and not attempt.error
    assert _one(spans, SpanName.CACHE_LOOKUP).attributes[Attr.CACHE_RESULT] == "miss"
    answer = _one(spans, SpanName.RESPONSE_PRODUCE)
    receive = _one(spans, SpanName.RESPONSE_RECEIVE, where="client")
    assert receive.parent_id == answer.span_id  # and back across the reply topic
    assert {s.trace_id for s in spans} == {trace_id}


async def test_the_retry_topic_hop_continues_the_trace_and_failover_attempts_are_siblings(
    make_env: EnvFactory, collector: Collector, memory: InMemorySpanExporter
) -> None:
    env = await _traced_env(
        make_env,
        collector,
        backends=[("a", ["gpt-4o-mini"]), ("b", ["gpt-4o-mini"])],
        health={"breaker": {"consecutive_failures": 50, "min_calls": 50}},
        worker={"retry": {"max_attempts": 20, "base_delay_s": 0.3, "max_delay_s": 0.5}},
    )
    for backend in env.backends:
        env.fake.set_faults(backend, outage=True, retry_after_s=0.3)
    request = _request("retry")
    bootstrap = env.config.kafka.bootstrap_servers

    async def heal_after_first_round() -> None:  # both failures are published when the retry is scheduled
        deadline = time.monotonic() + 60
        while True:
            failures = await read_topic(bootstrap, env.topics.failures, FailureEvent, timeout_s=1)
            if len([f for f in failures if f.request_id == request.request_id]) >= 2:
                break
            assert time.monotonic() < deadline, "the first round never failed on both backends"
        for backend in env.backends:
            env.fake.set_faults(backend)

    healer = asyncio.create_task(heal_after_first_round())
    response, trace_id = await _ask(env, request)
    await healer
    assert response.status == "ok", response.error
    spans = await _spans_of(trace_id, memory, collector, until={SpanName.RESPONSE_RECEIVE}, env=env)

    rounds = sorted((s for s in spans if s.name == SpanName.CONSUME), key=lambda s: s.attributes[Attr.ROUND])
    assert len(rounds) >= 2, [s.name for s in spans]
    assert rounds[0].parent_id == _one(spans, SpanName.PRODUCE).span_id
    by_id = {s.span_id: s for s in spans}
    for before, after in pairwise(rounds):  # consume → retry produce → forward → consume
        forward = by_id[after.parent_id or ""]
        assert forward.name == SpanName.RETRY_FORWARD and forward.where == "worker"
        scheduled = by_id[forward.parent_id or ""]
        assert scheduled.name == SpanName.RETRY_PRODUCE and scheduled.parent_id == before.span_id
    first = [s for s in _children(spans, rounds[0]) if s.name == SpanName.PROVIDER_ATTEMPT]
    assert len(first) == 2  # failover within the round: siblings under the round's consume span
    assert {s.attributes[Attr.BACKEND] for s in first} == set(env.backends)
    assert all(s.error and s.attributes[Attr.ERROR_CODE] == "provider_unavailable" for s in first)
    last = {s.name: s for s in _children(spans, rounds[-1])}
    assert not last[SpanName.PROVIDER_ATTEMPT].error
    assert _one(spans, SpanName.RESPONSE_RECEIVE).parent_id == last[SpanName.RESPONSE_PRODUCE].span_id
    attempts = [s for s in spans if s.name == SpanName.PROVIDER_ATTEMPT]
    assert len(attempts) == len(response.attempts)
    assert {s.trace_id for s in spans} == {trace_id}


async def test_a_malformed_traceparent_starts_a_new_trace_and_the_request_is_served(
    make_env: EnvFactory, collector: Collector
) -> None:
    env = await _traced_env(make_env, collector)
    request = _request("junk")
    topic = env.topics.requests(request.priority)
    junk = [(Header.REQUEST_ID, request.request_id.encode()), (Header.TRACEPARENT, b"00-not-a-trace-\xff" * 40)]
    async with env.client() as client:
        fut: asyncio.Future[ChatResponse] = asyncio.get_running_loop().create_future()
        client._pending[request.request_id] = fut  # a raw produce, answered like any other request
        await client.produce_raw(topic, encode(request), key=request.tenant.encode(), headers=junk)
        [response] = await gather_responses([fut], 60, env.workers)
    assert response.status == "ok", response.error
    deadline = time.monotonic() + 30
    while not [s for s in collector.spans if s.name == SpanName.RESPONSE_PRODUCE]:
        assert time.monotonic() < deadline, env.workers[0].tail(30)
        await asyncio.sleep(0.1)
    consume = _one(collector.spans, SpanName.CONSUME)
    assert consume.parent_id is None  # a root: the producer's header was not believed
    assert consume.attributes[Attr.REQUEST_ID] == request.request_id


async def test_library_mode_requests_are_children_of_the_callers_span(
    make_env: EnvFactory, memory: InMemorySpanExporter
) -> None:
    env = await make_env(backends=[("a", ["gpt-4o-mini"]), ("b", ["gpt-4o-mini"])], cache=NO_SEMANTIC)
    env.fake.set_faults(env.backends[0], outage=True)  # the first candidate fails: failover to the second
    config = env.config.model_copy(update={"health": env.config.health.model_copy(update={"probe_interval_s": 60})})
    async with Router(config, background=False) as router:
        with trace.get_tracer("test").start_as_current_span("caller") as caller:
            response = await router.complete(_request("library"))
    assert response.status == "ok", response.error
    spans = [_from_sdk(s) for s in memory.get_finished_spans()]
    root = _one(spans, "caller")
    assert f"{caller.get_span_context().trace_id:032x}" == root.trace_id
    served = _one(spans, SpanName.REQUEST)
    assert served.parent_id == root.span_id
    names = [s.name for s in _children(spans, served)]
    assert {SpanName.CACHE_LOOKUP, SpanName.ROUTE, SpanName.SCHEDULE_WAIT} <= set(names)
    attempts = [s for s in _children(spans, served) if s.name == SpanName.PROVIDER_ATTEMPT]
    assert [s.attributes[Attr.BACKEND] for s in attempts] == env.backends  # failover: siblings, in order
    assert [s.error for s in attempts] == [True, False]
    assert {s.trace_id for s in spans} == {root.trace_id}

"""Per-request log context: ids bound once per request reach nested code, never another request."""

import asyncio
import logging

import pytest
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars

from infra.log_context import (
    OUTCOME_LOGGER,
    OutcomeKind,
    bind,
    content_fields,
    log_outcome,
    request_scope,
    trace_id_of,
)
from schemas.events import ChatMessage, ChatRequest, ChatResponse

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(autouse=True)
def _clean() -> None:
    clear_contextvars()


def test_scope_binds_its_fields_and_forgets_what_was_bound_inside() -> None:
    bind_contextvars(worker="w1")
    with request_scope(request_id="r1"):
        bind(tenant="acme", route=None)
        assert get_contextvars() == {"worker": "w1", "request_id": "r1", "tenant": "acme"}
    assert get_contextvars() == {"worker": "w1"}


def test_sequential_requests_in_one_task_do_not_inherit_each_others_ids() -> None:
    with request_scope(request_id="r1"):
        bind(model="m1")
    with request_scope(request_id="r2"):
        assert get_contextvars() == {"request_id": "r2"}


async def test_concurrent_requests_in_one_loop_keep_their_own_ids() -> None:
    seen: dict[str, list[object]] = {"r1": [], "r2": []}
    both_bound = asyncio.Barrier(2)

    async def nested(rid: str) -> None:
        seen[rid].append(get_contextvars().get("request_id"))

    async def request(rid: str, tenant: str) -> None:
        with request_scope(request_id=rid):
            bind(tenant=tenant)
            await both_bound.wait()  # the other request has bound its ids by now
            await nested(rid)
            seen[rid].append(get_contextvars().get("tenant"))

    await asyncio.gather(request("r1", "acme"), request("r2", "globex"))
    assert seen == {"r1": ["r1", "acme"], "r2": ["r2", "globex"]}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"00-{TRACE}-00f067aa0ba902b7-01".encode(), TRACE),
        (b"00-abc-01", None),
        (b"00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),
        (b"\xff", None),
    ],
)
def test_trace_id_comes_from_a_valid_traceparent_only(value: bytes, expected: str | None) -> None:
    assert trace_id_of([("other", b"x"), ("traceparent", value)]) == expected


def test_no_traceparent_no_trace_id() -> None:
    assert trace_id_of([]) is None


def test_an_outcome_is_one_info_record_on_the_outcome_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=OUTCOME_LOGGER)
    log_outcome(OutcomeKind.ANSWERED, latency_ms=12.5, code=None)
    [record] = caplog.records
    assert (record.name, record.levelno, record.getMessage()) == (OUTCOME_LOGGER, logging.INFO, "outcome")
    assert (record.outcome, record.latency_ms) == ("answered", 12.5)  # type: ignore[attr-defined]
    assert not hasattr(record, "code")  # unknown fields are left out, not logged as null


def test_content_fields_name_the_prompt_and_the_answer() -> None:
    request = ChatRequest(messages=[ChatMessage(role="user", content="hi [redacted]")])
    response = ChatResponse(request_id=request.request_id, content="hello")
    assert content_fields(request, response) == {
        "prompt": [{"role": "user", "content": "hi [redacted]"}],
        "answer": "hello",
    }
    assert content_fields(None, None) == {}

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from schemas.events import (
    SCHEMA_VERSION,
    Attempt,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    DeadLetter,
    DeadLetterReason,
    FailureEvent,
    HealthEvent,
    Priority,
    Usage,
)
from schemas.wire import decode, encode


def _request(**kw: object) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content="hi")], **kw)  # type: ignore[arg-type]


def test_request_round_trip_keeps_every_field() -> None:
    req = _request(
        tenant="acme",
        priority=Priority.CRITICAL,
        model="gpt-4o",
        max_tokens=10,
        temperature=0.3,
        deadline=datetime(2030, 1, 1, tzinfo=UTC),
        metadata={"user": "u1"},
        reply_to="my.replies",
    )
    back = decode(ChatRequest, encode(req))
    assert back == req
    assert back.schema_version == SCHEMA_VERSION


def test_response_failure_health_and_dead_letter_round_trip() -> None:
    resp = ChatResponse(
        request_id="r1",
        content="x",
        usage=Usage(prompt_tokens=3, completion_tokens=4),
        attempts=[Attempt(backend="b", model="m", ok=True, latency_ms=1.5)],
    )
    assert decode(ChatResponse, encode(resp)) == resp
    assert resp.usage.total_tokens == 7
    fail = FailureEvent(stage="provider", code="rate_limited", message="429", retriable=True)
    assert decode(FailureEvent, encode(fail)) == fail
    health = HealthEvent(backend="b", state="down", circuit="open")
    assert decode(HealthEvent, encode(health)) == health
    letter = DeadLetter(
        reason=DeadLetterReason.INVALID_MESSAGE,
        error="bad",
        original_b64=DeadLetter.b64(b"\x00\xff"),
        headers=[("h", DeadLetter.b64(b"v"))],
    )
    back = decode(DeadLetter, encode(letter))
    assert back.original_bytes() == b"\x00\xff"
    assert back.header_items() == [("h", b"v")]


def test_request_defaults_are_sane() -> None:
    req = _request()
    assert req.priority is Priority.NORMAL
    assert len(req.request_id) == 32
    assert req.created_at.tzinfo is not None
    assert _request().request_id != req.request_id


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("messages", []),
        ("priority", "urgent"),
        ("max_tokens", 0),
        ("temperature", 3.0),
        ("reply_to", "bad topic!"),
        ("request_id", ""),
        ("tenant", "a b"),
        ("schema_version", 99),
        ("unknown_field", 1),
    ],
)
def test_request_validation_rejects(field: str, value: object) -> None:
    data = {"messages": [{"role": "user", "content": "hi"}], field: value}
    with pytest.raises(ValidationError) as info:
        ChatRequest.model_validate(data)
    assert field in str(info.value)


def test_naive_deadline_is_taken_as_utc() -> None:
    naive = datetime(2030, 1, 1, 12, 0)
    req = _request(deadline=naive)
    assert req.deadline == naive.replace(tzinfo=UTC)
    assert req.deadline - timedelta(hours=1) < req.deadline


def test_priority_rank_orders_classes() -> None:
    assert [p.rank for p in (Priority.CRITICAL, Priority.HIGH, Priority.NORMAL, Priority.BATCH)] == [0, 1, 2, 3]


def test_prompt_text_joins_user_messages_only() -> None:
    req = ChatRequest(
        messages=[
            ChatMessage(role="system", content="be brief"),
            ChatMessage(role="user", content="a"),
            ChatMessage(role="assistant", content="b"),
            ChatMessage(role="user", content="c"),
        ]
    )
    assert req.prompt_text() == "a\nc"

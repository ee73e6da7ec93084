"""The wire contract beyond the request codec (tests/unit/test_codecs.py): topic names, validation messages,
what ``encode`` writes."""

import json

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from schemas.errors import MessageError
from schemas.events import PRIORITIES, ChatRequest, Priority
from schemas.wire import DEFAULT_RETRY_TIERS_S, TopicNames, decode, decode_request, encode


class _Ints(BaseModel):
    a: int = 0
    b: int = 0
    c: int = 0
    d: int = 0
    e: int = 0
    f: int = 0
    g: int = 0
    h: int = 0


def _pydantic_message(model: type[BaseModel], payload: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(payload)
    return info.value.errors()[0]["msg"]


class _Range(BaseModel):
    low: int
    high: int

    @model_validator(mode="after")
    def _ordered(self) -> "_Range":
        if self.low > self.high:
            raise ValueError("low above high")
        return self


def _message(model: type[BaseModel], payload: object) -> str:
    with pytest.raises(MessageError) as info:
        decode(model, json.dumps(payload))
    assert info.value.code == "schema_invalid"
    return info.value.message


@pytest.mark.parametrize(
    ("bad", "listed", "suffix"),
    [
        ("a", "a", ""),
        ("abcde", "abcde", ""),
        ("abcdef", "abcde", "; and 1 more"),
        ("abcdefgh", "abcde", "; and 3 more"),
    ],
)
def test_validation_message_lists_the_first_five_errors_and_counts_the_rest(bad: str, listed: str, suffix: str) -> None:
    message = _message(_Ints, {field: "x" for field in bad})
    not_an_int = _pydantic_message(_Ints, {"a": "x"})  # pydantic's wording, whatever its version
    reasons = "; ".join(f"{field}: {not_an_int}" for field in listed)
    assert message == f"_Ints failed validation: {reasons}{suffix}"


def test_validation_message_names_nested_fields_by_path_and_whole_object_errors_as_root() -> None:
    message = _message(
        ChatRequest, {"messages": [{"role": "user", "content": "x"}, {"role": "wizard", "content": "x"}]}
    )
    assert message.startswith("ChatRequest failed validation: messages.1.role: ")
    whole = _pydantic_message(_Range, {"low": 2, "high": 1})
    assert "low above high" in whole
    assert _message(_Range, {"low": 2, "high": 1}) == f"_Range failed validation: <root>: {whole}"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "empty message body"),
        (b"", "empty message body"),
        ("", "empty message body"),
        (b"[1, 2]", "body must be a JSON object, got list"),
        (b"null", "body must be a JSON object, got NoneType"),
        (b"3", "body must be a JSON object, got int"),
    ],
)
def test_undecodable_bodies_say_why(data: bytes | str | None, message: str) -> None:
    with pytest.raises(MessageError) as info:
        decode_request(data)
    assert info.value.message == message


@pytest.mark.parametrize(("request_id", "kept"), [("abc", "abc"), (123, None), (["abc"], None), (None, None)])
def test_a_schema_error_keeps_only_a_string_request_id(request_id: object, kept: str | None) -> None:
    with pytest.raises(MessageError) as info:
        decode_request(json.dumps({"request_id": request_id, "messages": []}))
    assert info.value.request_id == kept


def test_encode_writes_every_field_including_nulls_as_utf8_json() -> None:
    request = ChatRequest(messages=[{"role": "user", "content": "héllo 你好"}])  # type: ignore[list-item]
    body = encode(request)
    payload = json.loads(body.decode("utf-8"))
    assert set(payload) == set(ChatRequest.model_fields)
    assert payload["max_tokens"] is None and payload["deadline"] is None and payload["reply_to"] is None
    assert "héllo 你好".encode() in body


def test_topic_names_derive_from_the_prefix() -> None:
    topics = TopicNames("acme")
    assert topics.requests(Priority.HIGH) == "acme.requests.high"
    assert topics.requests("batch") == "acme.requests.batch"
    assert topics.all_requests == [f"acme.requests.{p.value}" for p in PRIORITIES]
    assert (topics.responses, topics.failures, topics.health, topics.deadletter) == (
        "acme.responses",
        "acme.failures",
        "acme.health",
        "acme.deadletter",
    )
    assert (topics.retry(5.0), topics.retry(0.5), topics.retry(300)) == (
        "acme.retry.5s",
        "acme.retry.0.5s",
        "acme.retry.300s",
    )


def test_priority_of_inverts_requests_and_rejects_other_topics() -> None:
    topics = TopicNames()
    for p in PRIORITIES:
        assert topics.priority_of(topics.requests(p)) is p
    for other in ("llm.responses", "llm.requests", "llm.requests.urgent", "acme.requests.high", ""):
        assert topics.priority_of(other) is None


@pytest.mark.parametrize(
    ("tiers", "delay", "topic"),
    [
        (list(DEFAULT_RETRY_TIERS_S), 0.0, "llm.retry.0s"),
        (list(DEFAULT_RETRY_TIERS_S), 0.99, "llm.retry.0s"),
        (list(DEFAULT_RETRY_TIERS_S), 1.0, "llm.retry.1s"),
        (list(DEFAULT_RETRY_TIERS_S), 7.5, "llm.retry.5s"),
        (list(DEFAULT_RETRY_TIERS_S), 3600.0, "llm.retry.300s"),
        ([1.0, 5.0], 0.5, "llm.retry.1s"),  # below every tier: the smallest one
        ([1.0, 5.0], 5.0, "llm.retry.5s"),
    ],
)
def test_retry_tier_is_the_largest_tier_not_above_the_delay(tiers: list[float], delay: float, topic: str) -> None:
    assert TopicNames().retry_tier(tiers, delay) == topic

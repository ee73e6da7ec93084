"""The OpenAI body <-> event mapping of the front door, and the one table from router error codes to statuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from schemas.events import ChatResponse, ErrorCode, ErrorInfo, Priority, Usage
from schemas.openai_api import (
    ERROR_STATUS,
    ApiError,
    DoorCode,
    error_of_response,
    parse_chat_body,
    to_chat_request,
    to_completion,
)

DEADLINE = datetime(2030, 1, 1, tzinfo=UTC)


def _body(**fields: object) -> bytes:
    return json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **fields}).encode()


def _refusal(raw: bytes) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_chat_body(raw)
    return caught.value


def test_every_router_error_code_has_an_http_status() -> None:
    assert set(ERROR_STATUS) == set(ErrorCode)
    assert all(400 <= status <= 599 for status, _ in ERROR_STATUS.values())


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (ErrorCode.DEADLINE_EXPIRED, 504),
        (ErrorCode.NOT_ENTITLED, 403),
        (ErrorCode.NO_ROUTE, 404),
        (ErrorCode.RATE_LIMITED, 429),
        (ErrorCode.RETRIES_EXHAUSTED, 503),
        ("a_code_from_a_newer_router", 502),
    ],
)
def test_an_error_response_becomes_its_status_and_an_openai_body(code: str, status: int) -> None:
    response = ChatResponse(request_id="r1", status="error", error=ErrorInfo(code=code, message="why"))
    error = error_of_response(response)
    assert error.status == status
    assert error.body() == {"error": {"message": "why", "type": str(error.kind), "param": None, "code": str(code)}}
    assert (error.retry_after_s is not None) == (status == 429)


def test_a_body_maps_to_a_request_with_the_door_s_identity() -> None:
    body = parse_chat_body(
        _body(
            messages=[
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hel"}, {"type": "text", "text": "lo"}]},
            ],
            max_completion_tokens=20,
            temperature=0.5,
            user="u-7",
            n=1,
            top_p=1,
            response_format={"type": "text"},
            stream_options=None,
        )
    )
    request = to_chat_request(body, request_id="rid", tenant="acme", priority=Priority.HIGH, deadline=DEADLINE)
    assert [(m.role, m.content) for m in request.messages] == [("system", "be brief"), ("user", "hello")]
    assert (request.request_id, request.tenant, request.priority) == ("rid", "acme", Priority.HIGH)
    assert (request.max_tokens, request.temperature, request.deadline) == (20, 0.5, DEADLINE)
    assert request.metadata == {"user": "u-7"} and request.model == "gpt-4o-mini"


@pytest.mark.parametrize(
    ("raw", "code", "param"),
    [
        (b"{not json", DoorCode.INVALID_JSON, None),
        (b"[1, 2]", DoorCode.INVALID_JSON, None),
        (_body(tools=[{"type": "function"}]), DoorCode.INVALID_VALUE, "tools[0].function"),
        (_body(logit_bias={"1": 2}), DoorCode.UNSUPPORTED_PARAMETER, "logit_bias"),
        (_body(parallel_tool_calls=False), DoorCode.UNSUPPORTED_PARAMETER, "parallel_tool_calls"),
        (_body(response_format={"type": "json_schema"}), DoorCode.INVALID_VALUE, "response_format"),
        (_body(messages=[{"role": "tool", "content": "x"}]), DoorCode.INVALID_VALUE, "messages[0]"),
        (_body(messages=[{"role": "user", "content": None}]), DoorCode.INVALID_VALUE, "messages[0]"),
        (_body(messages=[]), DoorCode.INVALID_VALUE, "messages"),
        (_body(messages=[{"role": "user", "content": 5}]), DoorCode.INVALID_VALUE, "messages[0].content"),
        (_body(messages=[{"role": "wizard", "content": "x"}]), DoorCode.INVALID_VALUE, "messages[0].role"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(), DoorCode.INVALID_VALUE, "model"),
    ],
)
def test_what_cannot_be_mapped_is_a_400_naming_the_parameter(raw: bytes, code: DoorCode, param: str | None) -> None:
    error = _refusal(raw)
    assert (error.status, error.code, error.param) == (400, code, param)
    assert error.body()["error"]["type"] == "invalid_request_error"


def test_stream_is_carried_to_the_request() -> None:
    body = parse_chat_body(_body(stream=True))
    request = to_chat_request(body, request_id="r", tenant="t", priority=Priority.NORMAL, deadline=DEADLINE)
    assert request.stream is True


def test_a_value_the_router_refuses_is_a_400() -> None:
    body = parse_chat_body(_body(temperature=3))
    with pytest.raises(ApiError) as caught:
        to_chat_request(body, request_id="r", tenant="t", priority=Priority.NORMAL, deadline=DEADLINE)
    assert (caught.value.status, caught.value.param) == (400, "temperature")


def test_a_completion_in_openai_shape_with_an_id_from_the_request_id() -> None:
    response = ChatResponse(
        request_id="r9",
        model="gpt-4o-mini",
        content="hello",
        finish_reason="length",
        usage=Usage(prompt_tokens=3, completion_tokens=4),
        created_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    body = to_completion(response)
    assert body["id"] == "chatcmpl-r9" and body["object"] == "chat.completion"
    assert body["created"] == 1893456000 and body["model"] == "gpt-4o-mini"
    assert body["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "length", "logprobs": None}
    ]
    assert body["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def test_tools_formats_and_parameters_map_to_the_request() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    body = parse_chat_body(
        _body(
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ],
            tools=[tool],
            tool_choice={"type": "function", "function": {"name": "f"}},
            response_format={"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}}},
            n=2,
            stop="END",
            seed=3,
            user="u",
            parallel_tool_calls=True,
        )
    )
    request = to_chat_request(body, request_id="r", tenant="t", priority=Priority.NORMAL, deadline=DEADLINE)
    assert request.tools is not None and request.tools[0].function.name == "f"
    assert request.tool_choice is not None and (request.tool_choice.mode, request.tool_choice.name) == ("function", "f")
    assert request.response_format is not None and request.response_format.json_schema == {"type": "object"}
    assert (request.n, request.stop, request.seed, request.user) == (2, ["END"], 3, "u")
    assistant, result = request.messages[1], request.messages[2]
    assert assistant.tool_calls is not None and assistant.tool_calls[0].id == "c1" and assistant.content == ""
    assert (result.role, result.tool_call_id, result.content) == ("tool", "c1", "42")


def test_neutral_values_leave_the_request_plain() -> None:
    body = parse_chat_body(_body(n=1, response_format={"type": "text"}, tool_choice="auto"))
    request = to_chat_request(body, request_id="r", tenant="t", priority=Priority.NORMAL, deadline=DEADLINE)
    assert (request.n, request.response_format, request.tools) == (None, None, None)


def test_tool_calls_and_choices_come_back_in_openai_shape() -> None:
    from schemas.events import Choice, ToolCall

    call = ToolCall(id="c1", name="f", arguments='{"a": 1}')
    response = ChatResponse(
        request_id="r",
        tool_calls=[call],
        finish_reason="tool_calls",
        choices=[Choice(tool_calls=[call], finish_reason="tool_calls"), Choice(index=1, content="b")],
        usage=Usage(prompt_tokens=5, cached_tokens=4),
    )
    body = to_completion(response)
    first, second = body["choices"]
    assert first["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}],
    }
    assert first["finish_reason"] == "tool_calls" and second["message"]["content"] == "b" and second["index"] == 1
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 4}


def test_an_unmappable_parameter_names_it_in_the_error_body() -> None:
    info = ErrorInfo(code=ErrorCode.UNSUPPORTED_PARAMETER, message="a: parameter 'seed' cannot be mapped (no seed)")
    error = error_of_response(ChatResponse(request_id="r", status="error", error=info))
    assert (error.status, error.param, error.code) == (400, "seed", "unsupported_parameter")

"""Tools, response formats and the other OpenAI generation parameters, mapped by each adapter (issue 17, item 3):
the body each provider receives, the tool calls and cached tokens read back, and what an adapter refuses."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from infra.providers.anthropic import AnthropicProvider
from infra.providers.gemini import GeminiProvider
from infra.providers.openai import OpenAIProvider
from schemas.config import BackendConfig
from schemas.errors import ProviderError
from schemas.events import ChatMessage, ErrorCode, ResponseFormat, Tool, ToolCall, ToolChoice, ToolFunction
from schemas.protocols import ProviderCall

WEATHER = Tool(
    function=ToolFunction(
        name="get_weather",
        description="weather of a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
)
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}}
ROUND_TRIP = [
    ChatMessage(role="system", content="be brief"),
    ChatMessage(role="user", content="weather in Paris?"),
    ChatMessage(
        role="assistant", tool_calls=[ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')]
    ),
    ChatMessage(role="tool", tool_call_id="call_1", content='{"temp_c": 21}'),
]


def _provider(cls: type, provider: str) -> Any:
    backend = BackendConfig(name="b", provider=provider, base_url="http://x/v1", models=["*"])
    return cls(backend, httpx.AsyncClient(), None)


def _call(**kw: Any) -> ProviderCall:
    kw.setdefault("messages", ROUND_TRIP)
    return ProviderCall(model="m", **kw)


def _refused(provider: Any, call: ProviderCall, param: str) -> None:
    with pytest.raises(ProviderError) as caught:
        provider.build_body(call)
    assert caught.value.code == ErrorCode.UNSUPPORTED_PARAMETER and not caught.value.retriable
    assert repr(param) in caught.value.message


# --- OpenAI: as is ---------------------------------------------------------------------------------------------
def test_openai_sends_tools_and_parameters_as_openai_defines_them() -> None:
    call = _call(
        tools=[WEATHER],
        tool_choice=ToolChoice(mode="function", name="get_weather"),
        response_format=ResponseFormat(type="json_schema", name="out", json_schema=SCHEMA, strict=True),
        n=2,
        stop=["END"],
        seed=7,
        user="u-1",
    )
    body = _provider(OpenAIProvider, "openai").build_body(call)
    assert body["tools"] == [{"type": "function", "function": WEATHER.function.model_dump(exclude_none=True)}]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": SCHEMA, "strict": True},
    }
    assert (body["n"], body["stop"], body["seed"], body["user"]) == (2, ["END"], 7, "u-1")
    assistant, tool = body["messages"][2], body["messages"][3]
    assert assistant == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        ],
    }
    assert tool == {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'}


def test_openai_plain_bodies_are_unchanged() -> None:
    body = _provider(OpenAIProvider, "openai").build_body(_call(messages=[ChatMessage(role="user", content="hi")]))
    assert body == {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_openai_reads_tool_calls_choices_and_cached_tokens() -> None:
    data = {
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c9", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                    ],
                },
                "finish_reason": "tool_calls",
            },
            {"index": 1, "message": {"role": "assistant", "content": "second"}, "finish_reason": "stop"},
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 8}},
    }
    result = _provider(OpenAIProvider, "openai").parse_body(data, _call(n=2))
    assert result.tool_calls == [ToolCall(id="c9", name="get_weather", arguments="{}")]
    assert result.finish_reason == "tool_calls" and result.content == ""
    assert result.usage.cached_tokens == 8 and result.usage.prompt_tokens == 10
    assert result.choices is not None and [c.content for c in result.choices] == ["", "second"]


# --- Anthropic -------------------------------------------------------------------------------------------------
def test_anthropic_maps_tools_tool_choice_blocks_and_stop() -> None:
    call = _call(tools=[WEATHER], tool_choice=ToolChoice(mode="required"), stop=["END"], user="u-1")
    body = _provider(AnthropicProvider, "anthropic").build_body(call)
    assert body["tools"] == [
        {"name": "get_weather", "description": "weather of a city", "input_schema": WEATHER.function.parameters}
    ]
    assert body["tool_choice"] == {"type": "any"}
    assert body["stop_sequences"] == ["END"] and body["metadata"] == {"user_id": "u-1"}
    assert body["system"] == "be brief"
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": '{"temp_c": 21}'}],
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (ToolChoice(mode="auto"), {"type": "auto"}),
        (ToolChoice(mode="none"), {"type": "none"}),
        (ToolChoice(mode="function", name="get_weather"), {"type": "tool", "name": "get_weather"}),
    ],
)
def test_anthropic_tool_choice(choice: ToolChoice, expected: dict[str, Any]) -> None:
    body = _provider(AnthropicProvider, "anthropic").build_body(_call(tools=[WEATHER], tool_choice=choice))
    assert body["tool_choice"] == expected


def test_anthropic_json_format_is_a_forced_tool_read_back_as_content() -> None:
    provider = _provider(AnthropicProvider, "anthropic")
    call = _call(
        messages=[ChatMessage(role="user", content="hi")],
        response_format=ResponseFormat(type="json_schema", name="out", json_schema=SCHEMA),
    )
    body = provider.build_body(call)
    assert body["tools"] == [{"name": "out", "description": body["tools"][0]["description"], "input_schema": SCHEMA}]
    assert body["tool_choice"] == {"type": "tool", "name": "out"}
    data = {
        "model": "m",
        "content": [{"type": "tool_use", "id": "t", "name": "out", "input": {"answer": "yes"}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 4},
    }
    result = provider.parse_body(data, call)
    assert json.loads(result.content) == {"answer": "yes"} and result.tool_calls is None
    assert result.finish_reason == "stop"
    assert (result.usage.prompt_tokens, result.usage.cached_tokens) == (9, 4)


def test_anthropic_reads_tool_use_blocks_as_tool_calls() -> None:
    data = {
        "model": "m",
        "content": [
            {"type": "text", "text": "let me look"},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 5, "output_tokens": 2},
    }
    result = _provider(AnthropicProvider, "anthropic").parse_body(data, _call(tools=[WEATHER]))
    assert result.content == "let me look" and result.finish_reason == "tool_calls"
    assert result.tool_calls == [ToolCall(id="toolu_1", name="get_weather", arguments='{"city": "Oslo"}')]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 2}, "n"),
        ({"seed": 1}, "seed"),
        ({"tools": [WEATHER], "response_format": ResponseFormat(type="json_object")}, "response_format"),
    ],
)
def test_anthropic_refuses_what_it_cannot_map(fields: dict[str, Any], param: str) -> None:
    _refused(_provider(AnthropicProvider, "anthropic"), _call(**fields), param)


# --- Gemini ----------------------------------------------------------------------------------------------------
def test_gemini_maps_function_declarations_parts_and_generation_config() -> None:
    call = _call(
        tools=[WEATHER],
        tool_choice=ToolChoice(mode="function", name="get_weather"),
        response_format=ResponseFormat(type="json_schema", name="out", json_schema=SCHEMA),
        n=2,
        stop=["END"],
        seed=3,
    )
    body = _provider(GeminiProvider, "gemini").build_body(call)
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {"name": "get_weather", "description": "weather of a city", "parameters": WEATHER.function.parameters}
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json" and config["responseSchema"] == SCHEMA
    assert (config["candidateCount"], config["stopSequences"], config["seed"]) == (2, ["END"], 3)
    assert body["contents"][1] == {
        "role": "model",
        "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
    }
    assert body["contents"][2] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}}],
    }


def test_gemini_reads_function_calls_candidates_and_cached_tokens() -> None:
    data = {
        "candidates": [
            {"content": {"parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]}},
            {"content": {"parts": [{"text": "two"}]}, "finishReason": "STOP"},
        ],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 4, "cachedContentTokenCount": 10},
    }
    result = _provider(GeminiProvider, "gemini").parse_body(data, _call(n=2))
    assert result.tool_calls is not None and result.tool_calls[0].name == "get_weather"
    assert json.loads(result.tool_calls[0].arguments) == {"city": "Rome"} and result.tool_calls[0].id
    assert result.finish_reason == "tool_calls" and result.usage.cached_tokens == 10
    assert result.choices is not None and result.choices[1].content == "two"


def test_gemini_json_object_mode() -> None:
    call = _call(messages=[ChatMessage(role="user", content="hi")], response_format=ResponseFormat(type="json_object"))
    config = _provider(GeminiProvider, "gemini").build_body(call)["generationConfig"]
    assert config == {"responseMimeType": "application/json"}


def test_gemini_refuses_a_tool_result_without_its_call() -> None:
    orphan = [ChatMessage(role="user", content="hi"), ChatMessage(role="tool", tool_call_id="nope", content="1")]
    _refused(_provider(GeminiProvider, "gemini"), _call(messages=orphan), "messages")


def test_old_records_still_decode() -> None:
    from schemas.events import ChatRequest

    old = {"request_id": "r1", "messages": [{"role": "user", "content": "hi"}], "schema_version": 1}
    request = ChatRequest.model_validate(old)
    assert request.tools is None and request.messages[0].tool_calls is None and request.n is None

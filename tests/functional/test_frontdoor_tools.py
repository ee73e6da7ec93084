"""Tools and formats through the front door (issue 17, item 3): the official ``openai`` client against
``serve --engine inline``, with the fake provider behind it speaking OpenAI, Anthropic and Gemini. A tool-calling
round trip (call returned, result sent back, final answer), JSON mode, ``n``, and the 400 of what a provider
cannot map."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from infra.fake_provider.server import FakeProviderServer
from schemas.config import RouterConfig
from streams.frontdoor.door import FrontDoor
from tests.frontdoor_support import KEYS, door_config, running_door

#: one model per wire format: the fake provider answers each in its own format
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-fake", "gemini": "gemini-fake"}
WEATHER: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _config(server: FakeProviderServer) -> RouterConfig:
    backends = [
        {"name": wire, "provider": wire, "base_url": server.backend_url(wire, wire), "models": [model], "timeout_s": 5}
        for wire, model in MODELS.items()
    ]
    return door_config(backends, max_attempts=1)


@pytest.fixture
async def door(fake_server: FakeProviderServer) -> AsyncIterator[tuple[str, FrontDoor]]:
    async with running_door(_config(fake_server)) as running:
        yield running


def _client(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url, api_key=KEYS["app"], max_retries=0)


@pytest.mark.parametrize("wire", list(MODELS))
async def test_a_tool_calling_round_trip(door: tuple[str, FrontDoor], wire: str) -> None:
    client, model = _client(door[0]), MODELS[wire]
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": 'What is the weather? call get_weather with {"city": "Paris"}'}
    ]
    first = await client.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls, first
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
    ]
    final = await client.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    answer = final.choices[0]
    assert answer.finish_reason == "stop" and not answer.message.tool_calls
    assert answer.message.content is not None and "tool said:" in answer.message.content
    assert "21" in answer.message.content


@pytest.mark.parametrize("wire", list(MODELS))
@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_object"},
        {
            "type": "json_schema",
            "json_schema": {
                "name": "reply",
                "schema": {"type": "object", "properties": {"answer": {"type": "string"}}},
            },
        },
    ],
)
async def test_json_response_format(door: tuple[str, FrontDoor], wire: str, response_format: Any) -> None:
    completion = await _client(door[0]).chat.completions.create(
        model=MODELS[wire],
        messages=[{"role": "user", "content": "answer in json"}],
        response_format=response_format,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and not choice.message.tool_calls
    assert choice.message.content is not None
    assert "answer in json" in json.loads(choice.message.content)["answer"]


@pytest.mark.parametrize("wire", ["openai", "gemini"])
async def test_n_choices(door: tuple[str, FrontDoor], wire: str) -> None:
    completion = await _client(door[0]).chat.completions.create(
        model=MODELS[wire], messages=[{"role": "user", "content": "two please"}], n=2, stop=["END"], seed=4
    )
    assert [c.index for c in completion.choices] == [0, 1]
    assert completion.choices[0].message.content != completion.choices[1].message.content
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 0


@pytest.mark.parametrize(
    ("wire", "body", "param"),
    [
        ("anthropic", {"n": 2}, "n"),
        ("anthropic", {"seed": 1}, "seed"),
        ("anthropic", {"tools": [WEATHER], "response_format": {"type": "json_object"}}, "response_format"),
        ("openai", {"logit_bias": {"1": 5}}, "logit_bias"),
        ("openai", {"parallel_tool_calls": False}, "parallel_tool_calls"),
    ],
)
async def test_what_a_provider_cannot_map_is_a_400_naming_it(
    door: tuple[str, FrontDoor], wire: str, body: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await _client(door[0]).chat.completions.create(
            model=MODELS[wire], messages=[{"role": "user", "content": "hi"}], **body
        )
    detail = caught.value.response.json()["error"]
    assert detail["code"] == "unsupported_parameter" and detail["param"] == param
    assert param in detail["message"]


async def test_a_tool_message_without_its_call_id_is_a_400(door: tuple[str, FrontDoor]) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await _client(door[0]).chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}, {"role": "tool", "content": "x"}],  # type: ignore[list-item,misc]
        )
    assert caught.value.response.json()["error"]["param"] == "messages[1]"

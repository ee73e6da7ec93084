"""Streamed provider answers, per wire format: server-sent events become ordered text deltas, and what the
stream reports at its end (finish reason, usage, model) becomes the same result a whole answer gives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.providers.streaming import StreamState, anthropic_event, gemini_event, openai_event, sse_data
from schemas.errors import ProviderError


def _feed(reader: Any, events: list[dict[str, Any]]) -> tuple[list[str], StreamState]:
    state = StreamState(model="asked")
    deltas = [d for e in events if (d := reader(e, state))]
    return deltas, state


def test_sse_lines_become_data_payloads() -> None:
    lines = ["event: x", 'data: {"a": 1}', "", ": comment", "data: [DONE]", ""]
    assert list(sse_data(lines)) == ['{"a": 1}', "[DONE]"]


def test_openai_chunks_give_deltas_finish_reason_and_usage() -> None:
    events = [
        {"model": "gpt-4o", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
    ]
    deltas, state = _feed(openai_event, events)
    result = state.result()
    assert deltas == ["Hel", "lo"] and result.content == "Hello" and result.model == "gpt-4o"
    assert result.finish_reason == "stop" and (result.usage.prompt_tokens, result.usage.completion_tokens) == (3, 2)


def test_anthropic_events_give_deltas_finish_reason_and_usage() -> None:
    events = [
        {"type": "message_start", "message": {"model": "claude-x", "usage": {"input_tokens": 7, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi "}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "there"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 4}},
        {"type": "message_stop"},
    ]
    deltas, state = _feed(anthropic_event, events)
    result = state.result()
    assert deltas == ["Hi ", "there"] and result.content == "Hi there" and result.model == "claude-x"
    assert result.finish_reason == "length" and (result.usage.prompt_tokens, result.usage.completion_tokens) == (7, 4)


def test_an_anthropic_error_event_mid_stream_is_a_retriable_provider_error() -> None:
    with pytest.raises(ProviderError) as caught:
        anthropic_event(
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, StreamState()
        )
    assert caught.value.retriable and "Overloaded" in str(caught.value)


def test_gemini_chunks_give_deltas_finish_reason_and_usage() -> None:
    events = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Bon"}]}}], "modelVersion": "gemini-2"},
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "jour"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2},
        },
    ]
    deltas, state = _feed(gemini_event, events)
    result = state.result()
    assert deltas == ["Bon", "jour"] and result.content == "Bonjour" and result.model == "gemini-2"
    assert result.finish_reason == "stop" and (result.usage.prompt_tokens, result.usage.completion_tokens) == (5, 2)


def test_readers_accept_json_text() -> None:
    state = StreamState()
    assert openai_event(json.loads('{"choices": [{"delta": {"content": "x"}}]}'), state) == "x"

"""Token estimates: ~4 Latin characters per token rounded up, one token per CJK character, 4 per message."""

import pytest

from agents.token_estimate import (
    DEFAULT_COMPLETION_TOKENS,
    cost_units,
    estimate_prompt_tokens,
    estimate_request_tokens,
    estimate_text_tokens,
)
from schemas.events import ChatMessage, ChatRequest


def _request(*contents: str, max_tokens: int | None = None) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content=c) for c in contents], max_tokens=max_tokens)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("a", 1),
        ("ab", 1),
        ("abcd", 1),
        ("abcde", 2),
        ("abcdefgh", 2),
        ("abcdefghi", 3),
        ("你好", 2),
        ("你好ab", 3),
        ("日本語のテキスト", 8),
        ("한국어 text", 3 + 2),  # 3 Hangul + ceil(5 / 4)
    ],
)
def test_text_estimate_rounds_latin_up_and_counts_cjk_one_each(text: str, tokens: int) -> None:
    assert estimate_text_tokens(text) == tokens
    assert type(estimate_text_tokens(text)) is int


def test_prompt_estimate_adds_a_per_message_overhead() -> None:
    assert estimate_prompt_tokens(_request("abcde")) == 2 + 4
    assert estimate_prompt_tokens(_request("abcde", "你好", "")) == (2 + 4) + (2 + 4) + (0 + 4)


@pytest.mark.parametrize(("max_tokens", "completion"), [(100, 100), (None, DEFAULT_COMPLETION_TOKENS)])
def test_request_estimate_adds_the_completion_budget(max_tokens: int | None, completion: int) -> None:
    request = _request("abcdefghi", "你好", max_tokens=max_tokens)
    assert estimate_request_tokens(request) == (3 + 4) + (2 + 4) + completion


def test_cost_units_per_request_or_per_estimated_token() -> None:
    request = _request("abcdefghi", max_tokens=10)
    assert cost_units(request, "requests") == 1.0
    assert cost_units(request, "tokens") == 3 + 4 + 10.0

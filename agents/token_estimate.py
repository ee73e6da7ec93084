"""Token counts estimated without a tokenizer: good enough for scheduling cost, content rules and TPM limits.

Latin-script text averages about four characters per token in OpenAI/Anthropic tokenizers; CJK characters are
closer to one token each. Estimates err slightly high, which is the safe side for rate limits."""

from __future__ import annotations

import re

from schemas.events import ChatRequest

__all__ = [
    "DEFAULT_COMPLETION_TOKENS",
    "cost_units",
    "estimate_prompt_tokens",
    "estimate_request_tokens",
    "estimate_text_tokens",
]

DEFAULT_COMPLETION_TOKENS = 256  # assumed output when a request sets no max_tokens
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_PER_MESSAGE = 4  # role and separators


def estimate_text_tokens(text: str) -> int:
    cjk = len(_CJK.findall(text))
    return cjk + (len(text) - cjk + 3) // 4


def estimate_prompt_tokens(request: ChatRequest) -> int:
    return sum(estimate_text_tokens(m.content) + _PER_MESSAGE for m in request.messages)


def estimate_request_tokens(request: ChatRequest) -> int:
    """Prompt estimate plus the completion budget (``max_tokens`` or a default)."""
    return estimate_prompt_tokens(request) + (request.max_tokens or DEFAULT_COMPLETION_TOKENS)


_COSTS = {"requests": lambda r: 1.0, "tokens": lambda r: float(estimate_request_tokens(r))}


def cost_units(request: ChatRequest, unit: str) -> float:
    """What one request costs the scheduler: 1 per request, or its estimated tokens."""
    return _COSTS[unit](request)

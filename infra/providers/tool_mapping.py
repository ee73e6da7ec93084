"""What the adapters share when mapping tools and generation parameters (issue 17): the refusal of a parameter a
provider cannot honour, and the JSON handling of tool arguments and results."""

from __future__ import annotations

import json
from typing import Any

from schemas.errors import ProviderError
from schemas.events import ChatMessage, ErrorCode

__all__ = ["arguments_object", "as_json_text", "tool_names_by_call_id", "unsupported"]


def unsupported(backend: str, param: str, why: str) -> ProviderError:
    """A parameter ``backend`` cannot map: terminal (another try would fail alike), never silently dropped."""
    return ProviderError(
        f"{backend}: parameter {param!r} cannot be mapped to this provider ({why})",
        backend=backend,
        retriable=False,
        status=400,
        code=ErrorCode.UNSUPPORTED_PARAMETER,
    )


def arguments_object(backend: str, arguments: str) -> dict[str, Any]:
    """A tool call's JSON arguments as the object Anthropic's ``input`` and Gemini's ``args`` need."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        raise unsupported(backend, "messages", "tool call arguments are not JSON") from None
    if not isinstance(value, dict):
        raise unsupported(backend, "messages", "tool call arguments are not a JSON object")
    return value


def as_json_text(value: Any) -> str:
    """Arguments read back from a provider, as the JSON text OpenAI carries."""
    return json.dumps(value if value is not None else {}, ensure_ascii=False)


def tool_names_by_call_id(messages: list[ChatMessage]) -> dict[str, str]:
    """Which function each earlier tool call named (a ``tool`` result carries only the call's id)."""
    return {call.id: call.name for m in messages for call in m.tool_calls or ()}

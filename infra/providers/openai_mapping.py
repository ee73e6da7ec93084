"""The OpenAI chat-completions wire format of tools, response formats and the other generation parameters: the
router carries them in OpenAI's own terms, so this mapping is (almost) the identity."""

from __future__ import annotations

from typing import Any

from schemas.events import ChatMessage, Choice, ResponseFormat, ToolCall, ToolChoice, Usage
from schemas.protocols import ProviderCall

__all__ = ["openai_choices", "openai_extras", "openai_messages", "openai_usage", "response_format_body"]


def openai_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.tool_calls:
            calls = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in m.tool_calls
            ]
            out.append({"role": m.role, "content": m.content or None, "tool_calls": calls})
        elif m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def _tool_choice(choice: ToolChoice) -> Any:
    if choice.mode == "function":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


def response_format_body(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    spec: dict[str, Any] = {"name": fmt.name or "response", "schema": fmt.json_schema or {}}
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": spec}


def openai_extras(call: ProviderCall) -> dict[str, Any]:
    """The body fields beyond model, messages, max_tokens and temperature (only those the request set)."""
    body: dict[str, Any] = {}
    if call.tools:
        body["tools"] = [{"type": "function", "function": t.function.model_dump(exclude_none=True)} for t in call.tools]
    if call.tool_choice is not None:
        body["tool_choice"] = _tool_choice(call.tool_choice)
    if call.response_format is not None:
        body["response_format"] = response_format_body(call.response_format)
    for name in ("n", "stop", "seed", "user"):
        value = getattr(call, name)
        if value is not None:
            body[name] = value
    return body


def _choice(raw: dict[str, Any]) -> Choice:
    message = raw.get("message") or {}
    calls = [
        ToolCall(id=c["id"], name=c["function"]["name"], arguments=c["function"].get("arguments") or "{}")
        for c in message.get("tool_calls") or ()
    ]
    return Choice(
        index=int(raw.get("index") or 0),
        content=message.get("content") or "",
        tool_calls=calls or None,
        finish_reason=raw.get("finish_reason"),
    )


def openai_choices(data: dict[str, Any]) -> list[Choice]:
    return [_choice(c) for c in data["choices"]]


def openai_usage(usage: dict[str, Any]) -> Usage:
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
    )

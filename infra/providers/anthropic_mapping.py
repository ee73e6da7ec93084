"""The Anthropic Messages format of tools, response formats and the other OpenAI generation parameters.

Tools become ``tools`` with ``input_schema``; tool calls and results become ``tool_use`` / ``tool_result`` content
blocks; ``stop`` becomes ``stop_sequences`` and ``user`` ``metadata.user_id``. ``response_format`` (JSON mode or a
schema) becomes one forced tool whose input *is* the answer (the schema is enforced by the tool's
``input_schema``, which a system instruction could not promise); its input is read back as the JSON content.
Refused (unsupported_parameter): ``n`` > 1 (one answer per call), ``seed`` (no such knob), and
``response_format`` together with ``tools`` (the forced tool would shut the caller's tools out)."""

from __future__ import annotations

from typing import Any

from infra.providers.tool_mapping import arguments_object, as_json_text, unsupported
from schemas.events import ChatMessage, ToolCall, ToolChoice
from schemas.protocols import ProviderCall

__all__ = ["anthropic_extras", "anthropic_reply", "anthropic_turns", "cached_usage", "json_tool_name"]

_JSON_TOOL = "json_response"
_JSON_TOOL_DESCRIPTION = "Give your answer by calling this tool: its input is the whole answer, as JSON."


def _content(m: ChatMessage, backend: str) -> str | list[dict[str, Any]]:
    if m.role == "tool":
        return [{"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}]
    if not m.tool_calls:
        return m.content
    blocks: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
    blocks += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": arguments_object(backend, c.arguments)}
        for c in m.tool_calls
    ]
    return blocks


def _blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def anthropic_turns(messages: list[ChatMessage], backend: str) -> list[dict[str, Any]]:
    """Alternating user/assistant turns (neighbours of one role merged); tool results are user turns."""
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        role = "assistant" if m.role == "assistant" else "user"
        content = _content(m, backend)
        if turns and turns[-1]["role"] == role:
            last = turns[-1]["content"]
            if isinstance(last, str) and isinstance(content, str):
                turns[-1]["content"] = last + "\n\n" + content
            else:
                turns[-1]["content"] = _blocks(last) + _blocks(content)
        else:
            turns.append({"role": role, "content": content})
    return turns


def _tool_choice(choice: ToolChoice) -> dict[str, Any]:
    if choice.mode == "function":
        return {"type": "tool", "name": choice.name}
    return {"type": {"auto": "auto", "none": "none", "required": "any"}[choice.mode]}


def json_tool_name(call: ProviderCall) -> str | None:
    """The forced tool standing for ``response_format``, if the call asks for JSON."""
    fmt = call.response_format
    if fmt is None or fmt.type == "text":
        return None
    return fmt.name or _JSON_TOOL


def anthropic_extras(call: ProviderCall, backend: str) -> dict[str, Any]:
    """The body fields for tools and parameters (only those the request set), or unsupported_parameter."""
    if call.n is not None and call.n > 1:
        raise unsupported(backend, "n", "the Messages API returns one answer per call")
    if call.seed is not None:
        raise unsupported(backend, "seed", "the Messages API has no seed")
    body: dict[str, Any] = {}
    if call.tools:
        body["tools"] = [
            {
                "name": t.function.name,
                "description": t.function.description or "",
                "input_schema": t.function.parameters or {"type": "object", "properties": {}},
            }
            for t in call.tools
        ]
    if call.tool_choice is not None:
        body["tool_choice"] = _tool_choice(call.tool_choice)
    json_tool = json_tool_name(call)
    if json_tool is not None:
        if call.tools:
            raise unsupported(backend, "response_format", "JSON output is a forced tool, which excludes `tools`")
        fmt = call.response_format
        schema = (fmt.json_schema if fmt is not None else None) or {"type": "object"}
        body["tools"] = [{"name": json_tool, "description": _JSON_TOOL_DESCRIPTION, "input_schema": schema}]
        body["tool_choice"] = {"type": "tool", "name": json_tool}
    if call.stop:
        body["stop_sequences"] = call.stop
    if call.user is not None:
        body["metadata"] = {"user_id": call.user}
    return body


def anthropic_reply(data: dict[str, Any], call: ProviderCall) -> tuple[str, list[ToolCall] | None, bool]:
    """(text, tool calls, whether the answer is the JSON tool's input) of a Messages response."""
    blocks = data["content"]
    json_tool = json_tool_name(call)
    if json_tool is not None:
        for block in blocks:
            if block.get("type") == "tool_use" and block.get("name") == json_tool:
                return as_json_text(block.get("input")), None, True
    text = "".join(block.get("text", "") for block in blocks if block.get("type") == "text")
    calls = [
        ToolCall(id=b["id"], name=b["name"], arguments=as_json_text(b.get("input")))
        for b in blocks
        if b.get("type") == "tool_use"
    ]
    return text, calls or None, False


def cached_usage(usage: dict[str, Any]) -> tuple[int, int]:
    """(prompt tokens in all, of which read from the prompt cache): Anthropic counts cache reads and writes
    apart from ``input_tokens``; OpenAI's ``prompt_tokens`` includes them, and so does the router's."""
    read = int(usage.get("cache_read_input_tokens") or 0)
    written = int(usage.get("cache_creation_input_tokens") or 0)
    return int(usage.get("input_tokens") or 0) + read + written, read

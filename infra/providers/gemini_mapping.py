"""The Gemini ``generateContent`` format of tools, response formats and the other OpenAI generation parameters.

Tools become one ``functionDeclarations`` tool and ``tool_choice`` the ``toolConfig.functionCallingConfig`` mode;
tool calls and results become ``functionCall`` / ``functionResponse`` parts (a result names its function, looked
up from the call it answers); ``response_format`` becomes ``responseMimeType`` (+ ``responseSchema``), ``stop``
``stopSequences``, ``n`` ``candidateCount``, ``seed`` ``seed``. ``user`` has no Gemini field: the router keeps it
on the request (logs, accounting) and does not send it, as it does not change the answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from infra.providers.tool_mapping import arguments_object, as_json_text, tool_names_by_call_id, unsupported
from schemas.events import ChatMessage, Choice, ToolCall, ToolChoice
from schemas.protocols import ProviderCall

__all__ = ["gemini_choices", "gemini_config", "gemini_contents", "gemini_tools"]

_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "function": "ANY"}


def _response_object(content: str) -> dict[str, Any]:
    """``functionResponse.response`` must be an object: a JSON object result as is, anything else wrapped."""
    try:
        value = json.loads(content)
    except ValueError:
        return {"content": content}
    return value if isinstance(value, dict) else {"content": value}


def _parts(m: ChatMessage, names: dict[str, str], backend: str) -> list[dict[str, Any]]:
    if m.role == "tool":
        name = names.get(m.tool_call_id or "")
        if name is None:
            raise unsupported(backend, "messages", f"tool result {m.tool_call_id!r} answers no earlier tool call")
        return [{"functionResponse": {"name": name, "response": _response_object(m.content)}}]
    parts: list[dict[str, Any]] = [{"text": m.content}] if m.content or not m.tool_calls else []
    parts += [
        {"functionCall": {"name": c.name, "args": arguments_object(backend, c.arguments)}} for c in m.tool_calls or ()
    ]
    return parts


def gemini_contents(messages: list[ChatMessage], backend: str) -> list[dict[str, Any]]:
    """``contents`` without the system turns; consecutive tool results share one turn, as Gemini wants."""
    names = tool_names_by_call_id(messages)
    contents: list[dict[str, Any]] = []
    previous: str | None = None
    for m in messages:
        if m.role == "system":
            continue
        parts = _parts(m, names, backend)
        if m.role == "tool" and previous == "tool":
            contents[-1]["parts"] += parts
        else:
            contents.append({"role": "model" if m.role == "assistant" else "user", "parts": parts})
        previous = m.role
    return contents


def _tool_config(choice: ToolChoice) -> dict[str, Any]:
    config: dict[str, Any] = {"mode": _MODES[choice.mode]}
    if choice.mode == "function" and choice.name:
        config["allowedFunctionNames"] = [choice.name]
    return {"functionCallingConfig": config}


def gemini_tools(call: ProviderCall) -> dict[str, Any]:
    """``tools`` and ``toolConfig`` (only those the request set)."""
    body: dict[str, Any] = {}
    if call.tools:
        declarations = [t.function.model_dump(exclude_none=True, exclude={"strict"}) for t in call.tools]
        body["tools"] = [{"functionDeclarations": declarations}]
    if call.tool_choice is not None:
        body["toolConfig"] = _tool_config(call.tool_choice)
    return body


def gemini_config(call: ProviderCall) -> dict[str, Any]:
    """The ``generationConfig`` entries of response format, stop, n and seed."""
    config: dict[str, Any] = {}
    fmt = call.response_format
    if fmt is not None and fmt.type != "text":
        config["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.json_schema:
            config["responseSchema"] = fmt.json_schema
    if call.stop:
        config["stopSequences"] = call.stop
    if call.n is not None and call.n > 1:
        config["candidateCount"] = call.n
    if call.seed is not None:
        config["seed"] = call.seed
    return config


def _choice(candidate: dict[str, Any], index: int, finish_of: Callable[[Any], str | None]) -> Choice:
    parts = (candidate.get("content") or {}).get("parts") or []
    calls = [
        ToolCall(
            id=str(p["functionCall"].get("id") or f"call_{index}_{i}"),
            name=p["functionCall"]["name"],
            arguments=as_json_text(p["functionCall"].get("args")),
        )
        for i, p in enumerate(parts)
        if "functionCall" in p
    ]
    return Choice(
        index=int(candidate.get("index") or index),
        content="".join(p.get("text", "") for p in parts),
        tool_calls=calls or None,
        finish_reason="tool_calls" if calls else finish_of(candidate.get("finishReason")),
    )


def gemini_choices(data: dict[str, Any], finish_of: Callable[[Any], str | None]) -> list[Choice]:
    return [_choice(c, i, finish_of) for i, c in enumerate(data["candidates"])]

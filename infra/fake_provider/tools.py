"""Just enough tool use for tests, in each wire format the fake provider speaks.

With tools offered, a last user message saying ``call <name>`` (optionally ``with {json}``) is answered with a
call of that tool (arguments: the JSON, else ``{"answer": ...}``); a forced tool (``tool_choice`` naming it, or
``required``: the first tool) is always called. A conversation ending in a tool result is answered in text
quoting the result. JSON mode (``response_format`` / ``responseMimeType``) answers ``{"answer": ...}``. ``n`` /
``candidateCount`` give that many choices."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ToolAsk", "read_tool_ask", "with_tools"]

_CALL = re.compile(r"\bcall ([A-Za-z0-9_-]+)(?: with (\{.*\}))?", re.DOTALL)


@dataclass
class ToolAsk:
    tools: list[str] = field(default_factory=list)
    forced: str | None = None
    json_mode: bool = False
    n: int = 1
    tool_result: str | None = None  # the conversation ends in a tool's result


def _openai(body: dict[str, Any]) -> ToolAsk:
    tools = [t["function"]["name"] for t in body.get("tools") or ()]
    choice = body.get("tool_choice")
    forced = choice["function"]["name"] if isinstance(choice, dict) else (tools[0] if choice == "required" else None)
    last = body["messages"][-1]
    fmt = (body.get("response_format") or {}).get("type")
    result = str(last.get("content") or "") if last.get("role") == "tool" else None
    return ToolAsk(tools, forced, fmt in ("json_object", "json_schema"), int(body.get("n") or 1), result)


def _anthropic(body: dict[str, Any]) -> ToolAsk:
    tools = [t["name"] for t in body.get("tools") or ()]
    choice = body.get("tool_choice") or {}
    forced = choice.get("name") if choice.get("type") == "tool" else (tools[0] if choice.get("type") == "any" else None)
    content = body["messages"][-1]["content"]
    results = [b for b in content if b.get("type") == "tool_result"] if isinstance(content, list) else []
    return ToolAsk(tools, forced, False, 1, str(results[-1].get("content")) if results else None)


def _gemini(body: dict[str, Any]) -> ToolAsk:
    tools = [d["name"] for t in body.get("tools") or () for d in t.get("functionDeclarations") or ()]
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    allowed = config.get("allowedFunctionNames") or tools[:1]
    forced = allowed[0] if config.get("mode") == "ANY" and allowed else None
    parts = body["contents"][-1]["parts"]
    results = [p["functionResponse"] for p in parts if "functionResponse" in p]
    generation = body.get("generationConfig") or {}
    json_mode = generation.get("responseMimeType") == "application/json"
    result = json.dumps(results[-1].get("response")) if results else None
    return ToolAsk(tools, forced, json_mode, int(generation.get("candidateCount") or 1), result)


def read_tool_ask(fmt: str, body: Any) -> ToolAsk | None:
    """What the request asks beyond text, or ``None`` when it asks nothing of the kind."""
    ask = {"openai": _openai, "anthropic": _anthropic, "gemini": _gemini}[fmt](body)
    plain = ToolAsk()
    return None if ask == plain else ask


def _call(ask: ToolAsk, prompt: str, answer: str) -> tuple[str, dict[str, Any]] | None:
    said = _CALL.search(prompt)
    name = ask.forced or (said.group(1) if said and said.group(1) in ask.tools else None)
    if name is None:
        return None
    args = json.loads(said.group(2)) if said and said.group(2) and said.group(1) == name else {"answer": answer}
    return name, args


def _texts(ask: ToolAsk, answer: str) -> list[str]:
    if ask.tool_result is not None:
        answer = f"{answer.split(']')[0]}] tool said: {ask.tool_result}"
    elif ask.json_mode:
        answer = json.dumps({"answer": answer})
    return [answer if i == 0 else f"{answer} (choice {i})" for i in range(ask.n)]


def with_tools(fmt: str, ask: ToolAsk, body: dict[str, Any], prompt: str, answer: str) -> dict[str, Any]:
    """``body`` (the plain success body of ``fmt``) rewritten to answer ``ask``."""
    call = None if ask.tool_result is not None else _call(ask, prompt, answer)
    texts = _texts(ask, answer)
    if fmt == "openai":
        first = body["choices"][0]
        choices = [{**first, "index": i, "message": {"role": "assistant", "content": t}} for i, t in enumerate(texts)]
        if call is not None:
            fn = {"name": call[0], "arguments": json.dumps(call[1])}
            tool_calls = [{"id": "call_fake_0", "type": "function", "function": fn}]
            choices[0] = {**first, "message": {"role": "assistant", "content": None, "tool_calls": tool_calls}}
            choices[0]["finish_reason"] = "tool_calls"
        return {**body, "choices": choices}
    if fmt == "anthropic":
        if call is None:
            return {**body, "content": [{"type": "text", "text": texts[0]}]}
        block = {"type": "tool_use", "id": "toolu_fake_0", "name": call[0], "input": call[1]}
        return {**body, "content": [block], "stop_reason": "tool_use"}
    first = body["candidates"][0]
    candidates = [
        {**first, "index": i, "content": {"role": "model", "parts": [{"text": t}]}} for i, t in enumerate(texts)
    ]
    if call is not None:
        candidates[0]["content"] = {"role": "model", "parts": [{"functionCall": {"name": call[0], "args": call[1]}}]}
    return {**body, "candidates": candidates}

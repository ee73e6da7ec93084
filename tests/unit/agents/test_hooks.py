"""Hooks as plugins: built by name from the config, called in order, kept across reloads when unchanged, and a
plugin that fails to import or has the wrong shape is an error naming it and its entry point."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from agents.hooks import HookChain, HookRuntime, as_hook_factory, build_hooks
from schemas.config import HookConfig
from schemas.errors import ConfigError
from schemas.events import ChatMessage, ChatRequest, ChatResponse
from schemas.plugins import HOOK_PLUGINS
from schemas.registry import Registry
from tests.plugin_dist import install_plugin_dist

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "plugins"


class Upper:
    def __init__(self, context: Any, suffix: str = "") -> None:
        self.suffix = suffix

    async def pre_request(self, request: ChatRequest) -> ChatRequest:
        messages = [m.model_copy(update={"content": m.content.upper() + self.suffix}) for m in request.messages]
        return request.model_copy(update={"messages": messages})


class Tag:
    def __init__(self, context: Any) -> None:
        pass

    async def post_response(self, request: ChatRequest, response: ChatResponse) -> None:
        response.finish_reason = "tagged"  # changes in place, returns None: the same response goes on


class Shapeless:
    def __init__(self, context: Any) -> None:
        pass


def _registry(**points: str) -> Registry[Any]:
    eps = [EntryPoint(name, value, HOOK_PLUGINS.group) for name, value in points.items()]
    return Registry(HOOK_PLUGINS, adapt=as_hook_factory, discover=lambda group: eps)


def _ctx() -> HookRuntime:
    return HookRuntime(registry=CollectorRegistry(), worker_id="w")


def _req(text: str = "hi") -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content=text)])


async def test_hooks_run_in_the_configured_order_and_none_means_unchanged() -> None:
    reg = _registry(upper=f"{__name__}:Upper", tag=f"{__name__}:Tag")
    specs = [HookConfig(name="upper", options={"suffix": "!"}), HookConfig(name="tag"), HookConfig(name="upper")]
    chain = build_hooks(specs, _ctx(), registry=reg)
    request = await chain.pre_request(_req("hi"))
    response = await chain.post_response(request, ChatResponse(request_id="r"))
    assert request.messages[0].content == "HI!"  # upper(suffix="!") then upper() again
    assert response.finish_reason == "tagged"
    assert not HookChain() and bool(chain)


def test_a_reload_keeps_hooks_whose_name_and_options_did_not_change() -> None:
    reg = _registry(upper=f"{__name__}:Upper")
    first = build_hooks([HookConfig(name="upper", options={"suffix": "a"})], _ctx(), registry=reg)
    same = build_hooks([HookConfig(name="upper", options={"suffix": "a"})], _ctx(), previous=first, registry=reg)
    other = build_hooks([HookConfig(name="upper", options={"suffix": "b"})], _ctx(), previous=first, registry=reg)
    assert same.hooks[0][1] is first.hooks[0][1]
    assert other.hooks[0][1] is not first.hooks[0][1]


def test_a_hook_that_fails_to_import_names_the_plugin_and_its_entry_point() -> None:
    reg = _registry(audit="no_such_module_for_hooks:Audit")
    with pytest.raises(ConfigError) as info:
        build_hooks([HookConfig(name="audit")], _ctx(), registry=reg)
    message = str(info.value)
    assert "hook plugin 'audit' failed to import" in message
    assert "entry point audit = no_such_module_for_hooks:Audit in llm_router.hooks" in message


def test_a_hook_of_the_wrong_shape_names_the_plugin() -> None:
    reg = _registry(shapeless=f"{__name__}:Shapeless", thing=f"{__name__}:THING")
    with pytest.raises(ConfigError, match=r"hook plugin 'shapeless' has the wrong shape \(entry point shapeless ="):
        build_hooks([HookConfig(name="shapeless")], _ctx(), registry=reg)
    with pytest.raises(ConfigError, match=r"hook plugin 'thing' has the wrong shape .*expected a hook class"):
        build_hooks([HookConfig(name="thing")], _ctx(), registry=reg)


def test_a_hook_whose_options_do_not_fit_its_factory_names_it() -> None:
    reg = _registry(upper=f"{__name__}:Upper")
    with pytest.raises(ConfigError, match="hook plugin 'upper' could not be built from its options"):
        build_hooks([HookConfig(name="upper", options={"colour": "red"})], _ctx(), registry=reg)


def test_an_unknown_hook_lists_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown hook 'redcat'; registered: redact \(did you mean 'redact'\?\)"):
        build_hooks([HookConfig(name="redcat")], _ctx(), registry=_registry(redact=f"{__name__}:Upper"))


THING = 42


async def test_the_example_plugins_are_found_through_their_distribution_metadata(tmp_path: Path) -> None:
    target = install_plugin_dist(EXAMPLE, tmp_path / "site")
    sys.path.insert(0, str(target))
    try:
        reg: Registry[Any] = Registry(HOOK_PLUGINS, adapt=as_hook_factory)
        context = _ctx()
        chain = build_hooks([HookConfig(name="redact"), HookConfig(name="usage-metrics")], context, registry=reg)
        request = await chain.pre_request(_req("write to ann@example.com"))
        answer = ChatResponse(request_id="r", model="m", content="ann@example.com")
        answer.usage.prompt_tokens = 7
        response = await chain.post_response(request, answer)
    finally:
        sys.path.remove(str(target))
        for name in [m for m in sys.modules if m.startswith("llm_router_example_plugins")]:
            del sys.modules[name]
    assert request.messages[0].content == "write to [redacted]" and response.content == "[redacted]"
    labels = {"model": "m", "kind": "prompt"}
    assert context.registry.get_sample_value("llm_router_example_tokens_total", labels) == 7

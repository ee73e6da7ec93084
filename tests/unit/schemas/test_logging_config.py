"""The ``logging`` section: defaults an operator can rely on, and typos refused at load time."""

import pytest

from infra.config_loader import parse_config
from schemas.config import LoggingSettings
from schemas.errors import ConfigError

MINIMAL = """
backends:
  - name: a
    base_url: http://127.0.0.1:1/v1
    models: [m1]
"""


def test_defaults_keep_prompts_out_and_let_the_command_choose_the_format() -> None:
    cfg = parse_config(MINIMAL, env={})
    assert cfg.logging == LoggingSettings()
    assert (cfg.logging.format, cfg.logging.level, cfg.logging.levels, cfg.logging.log_prompts) == (
        None,
        "info",
        {},
        False,
    )


def test_levels_per_module_are_read() -> None:
    text = MINIMAL + "logging: {format: json, level: warning, levels: {agents.pipeline: debug}, log_prompts: true}\n"
    got = parse_config(text, env={}).logging
    assert (got.format, got.level, got.levels, got.log_prompts) == (
        "json",
        "warning",
        {"agents.pipeline": "debug"},
        True,
    )


@pytest.mark.parametrize(
    "bad",
    ["logging: {format: xml}", "logging: {level: verbose}", "logging: {levels: {httpx: loud}}", "logging: {x: 1}"],
)
def test_typos_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_config(MINIMAL + bad + "\n", env={})

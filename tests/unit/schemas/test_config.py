from pathlib import Path

import pytest

from infra.config_loader import DEFAULT_CONFIG_PATH, load_config, parse_config
from schemas.errors import ConfigError

MINIMAL = """
backends:
  - name: a
    base_url: http://127.0.0.1:1/v1
    models: [m1]
"""


def test_default_config_loads() -> None:
    cfg = load_config(DEFAULT_CONFIG_PATH, env={})
    assert cfg.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert cfg.backends[0].name == "fake-openai"
    assert set(cfg.kafka.request_partitions) == {"critical", "high", "normal", "batch"}


def test_json_and_yaml_are_both_accepted() -> None:
    yaml_cfg = parse_config(MINIMAL, env={})
    json_cfg = parse_config(
        '{"backends": [{"name": "a", "base_url": "http://127.0.0.1:1/v1", "models": ["m1"]}]}', env={}
    )
    assert yaml_cfg == json_cfg


def test_env_overrides_apply() -> None:
    cfg = parse_config(
        MINIMAL,
        env={"LLM_ROUTER_KAFKA_BOOTSTRAP": "k:1", "LLM_ROUTER_TOPIC_PREFIX": "t1", "LLM_ROUTER_REDIS_URL": "redis://r"},
    )
    assert (cfg.kafka.bootstrap_servers, cfg.kafka.topic_prefix, cfg.redis.url) == ("k:1", "t1", "redis://r")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("backends: []", "backends"),
        ("kafka: {bogus: 1}\n" + MINIMAL, "kafka.bogus"),
        (MINIMAL + "  - name: a\n    base_url: http://x\n    models: [m1]\n", "duplicate backend names: a"),
        ("[1, 2]", "top level must be a mapping"),
        ("a: [unclosed", "not valid YAML/JSON"),
        (MINIMAL + "kafka: {request_partitions: {critical: 1}}\n", "lacks classes"),
        (MINIMAL + "kafka: {heartbeat_interval_s: 5, session_timeout_s: 6}\n", "heartbeat"),
    ],
)
def test_invalid_configs_raise_config_error_with_location(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="cfg.yaml", env={})
    assert needle in str(info.value)
    assert "cfg.yaml" in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml", env={})


def test_backend_serves() -> None:
    cfg = parse_config(MINIMAL, env={})
    assert cfg.backends[0].serves("m1") and not cfg.backends[0].serves("m2")


def test_retry_tiers_must_start_at_zero_and_increase() -> None:
    with pytest.raises(ConfigError, match="tiers_s"):
        parse_config(MINIMAL + "worker: {retry: {tiers_s: [1, 5]}}\n", env={})
    with pytest.raises(ConfigError, match="tiers_s"):
        parse_config(MINIMAL + "worker: {retry: {tiers_s: [0, 5, 2]}}\n", env={})

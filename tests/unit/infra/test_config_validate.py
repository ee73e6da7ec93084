"""``validate_text``: every error at once, each with its path and line; secrets checked against an environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.config_loader import load_config, parse_config, validate_text
from schemas.errors import ConfigError

BROKEN = """\
kafka:
  heartbeat_interval_s: 5
  session_timeout_s: 6
worker:
  scheduler: {kind: fare}
backends:
  - name: a
    provider: openia
    base_url: http://127.0.0.1:1/v1
    api_key_env: SOME_UNSET_VAR
    timout_s: 3
    models: [m1]
  - name: b
    base_url: http://127.0.0.1:1/v1
    models: [m2]
    max_concurrency: -1
routes:
  - name: r1
    targets: [{model: m1}, {model: gpt-5}, {model: m2, backend: c}]
  - name: r1
    targets:
      - model: m3
"""

EXPECTED = [
    "cfg.yaml:2: kafka.heartbeat_interval_s: heartbeat_interval_s must be at most a third of session_timeout_s",
    "cfg.yaml:5: worker.scheduler.kind: unknown scheduler 'fare'; registered: fair, fifo, strict "
    "(did you mean 'fair'?)",
    "cfg.yaml:8: backends.0.provider: unknown provider 'openia'; registered: anthropic, gemini, openai, "
    "openai-compatible (did you mean 'openai'?)",
    "cfg.yaml:10: backends.0.api_key_env: backend a: environment variable SOME_UNSET_VAR is not set",
    "cfg.yaml:11: backends.0.timout_s: unknown field 'timout_s' (did you mean 'timeout_s'?)",
    "cfg.yaml:16: backends.1.max_concurrency: Input should be greater than or equal to 1 (got -1)",
    "cfg.yaml:19: routes.0.targets.1.model: route 'r1': no backend serves model 'gpt-5'",
    "cfg.yaml:19: routes.0.targets.2.backend: route 'r1': unknown backend 'c'",
    "cfg.yaml:20: routes.1.name: duplicate route names: r1",
    "cfg.yaml:22: routes.1.targets.0.model: route 'r1': no backend serves model 'm3'",
]

MINIMAL = {"backends": [{"name": "a", "base_url": "http://127.0.0.1:1/v1", "models": ["m1"]}]}


def test_every_error_is_listed_with_its_path_and_line() -> None:
    result = validate_text(BROKEN, source="cfg.yaml", env={}, check_env=True)
    assert result.config is None
    assert [issue.render("cfg.yaml") for issue in result.issues] == EXPECTED
    report = result.report().splitlines()
    assert report[0] == f"cfg.yaml: invalid configuration ({len(EXPECTED)} errors):"
    assert report[1:] == [f"  {line}" for line in EXPECTED]


def test_json_errors_have_lines_too() -> None:
    doc = json.loads(json.dumps(MINIMAL))
    doc["backends"][0]["timeout"] = 3
    doc["routes"] = [{"name": "r", "targets": [{"model": "m1"}, {"model": "nope"}], "strategy": "fastest"}]
    text = json.dumps(doc, indent=2)
    result = validate_text(text, source="cfg.json", env={})
    lines = text.splitlines()
    rendered = {issue.path: issue for issue in result.issues}
    assert set(rendered) == {"backends.0.timeout", "routes.0.targets.1.model", "routes.0.strategy"}
    assert '"timeout"' in lines[rendered["backends.0.timeout"].line - 1]  # type: ignore[operator]
    assert '"strategy"' in lines[rendered["routes.0.strategy"].line - 1]  # type: ignore[operator]
    assert '"nope"' in lines[rendered["routes.0.targets.1.model"].line - 1]  # type: ignore[operator]
    assert "did you mean 'timeout_s'?" in rendered["backends.0.timeout"].message


def test_an_unknown_field_far_from_any_lists_the_fields_of_its_section() -> None:
    result = validate_text("routing: {zzz: 1}\nbackends: [{name: a, base_url: 'http://x', models: [m]}]\n", env={})
    (issue,) = result.issues
    assert issue.path == "routing.zzz" and issue.line == 1
    assert issue.message.startswith("unknown field 'zzz'; fields here: exemplar_embedder, exemplar_timeout_s,")


def test_secrets_are_checked_only_when_asked(tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_text("too-short")
    text = json.dumps(
        {
            **MINIMAL,
            "backends": [{**MINIMAL["backends"][0], "api_key_file": str(tmp_path / "missing")}],
            "security": {"router_keys": [{"key_env": "ROUTER_KEY"}, {"key_file": str(short)}]},
            "tenants": {"acme": {"keys": [{"key_env": "ACME_KEY"}]}},
            "kafka": {"security_protocol": "SASL_SSL", "sasl_username": "u", "sasl_password_env": "KAFKA_PW"},
        },
        indent=1,
    )
    assert validate_text(text, env={}, check_env=False).ok
    issues = {i.path: i.message for i in validate_text(text, env={}, check_env=True).issues}
    assert issues == {
        "backends.0.api_key_file": "backend a: cannot read api_key_file: No such file or directory",
        "security.router_keys.0.key_env": "environment variable ROUTER_KEY is not set",
        "security.router_keys.1.key_file": "the key must be at least 32 bytes (openssl rand -hex 32)",
        "tenants.acme.keys.0.key_env": "environment variable ACME_KEY is not set",
        "kafka.sasl_password_env": "kafka: environment variable KAFKA_PW is not set",
    }
    present = {"ROUTER_KEY": "r" * 32, "ACME_KEY": "a" * 32, "KAFKA_PW": "pw"}
    left = {i.path for i in validate_text(text, env=present, check_env=True).issues}
    assert left == {"backends.0.api_key_file", "security.router_keys.1.key_file"}


def test_an_error_in_an_environment_override_names_the_variable() -> None:
    result = validate_text(json.dumps(MINIMAL), source="f.json", env={"LLM_ROUTER_TOPIC_PREFIX": "no spaces"})
    (issue,) = result.issues
    assert issue.render("f.json").startswith("f.json (from $LLM_ROUTER_TOPIC_PREFIX): kafka.topic_prefix: String")


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("backends:\n  - name: a\n    models: [m1\n", 4, "not valid YAML/JSON: expected ',' or ']'"),
        ('{"backends": [\n  {"name": "a",}\n]}', 2, "not valid YAML/JSON: Expecting property name"),
        ("- 1\n- 2\n", 1, "top level must be a mapping, got list"),
    ],
)
def test_unparsable_documents_say_where(text: str, line: int, needle: str) -> None:
    (issue,) = validate_text(text, env={}).issues
    assert issue.line == line and issue.message.startswith(needle)


def test_a_model_wide_error_is_placed_at_the_field_its_message_names() -> None:
    text = "backends: [{name: a, base_url: 'http://x', models: [m]}]\nworker:\n  stream_buffer_maxsize: 10\n"
    (issue,) = validate_text(text, env={}).issues
    assert (issue.path, issue.line) == ("worker.stream_buffer_maxsize", 3)
    assert issue.message.startswith("worker.stream_buffer_maxsize (10) must be at least")


def test_a_secret_value_is_never_echoed() -> None:
    text = json.dumps({**MINIMAL, "security": {"router_keys": [{"key": 12345678901234567890}]}})
    messages = " ".join(i.message for i in validate_text(text, env={}).issues)
    assert "12345678901234567890" not in messages


def test_parse_and_load_raise_the_whole_report(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BROKEN, source="cfg.yaml", env={})
    assert len(str(info.value).splitlines()) == len(EXPECTED)  # the secret check is not part of parsing
    path = tmp_path / "router.yaml"
    path.write_text(json.dumps({**MINIMAL, "backends": [{**MINIMAL["backends"][0], "api_key_env": "K"}]}))
    assert load_config(path, env={}).backends[0].api_key_env == "K"
    with pytest.raises(ConfigError, match="environment variable K is not set"):
        load_config(path, env={}, check_env=True)

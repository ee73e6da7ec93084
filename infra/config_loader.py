"""Load :class:`RouterConfig` from YAML/JSON files and environment overrides.

Validation reports every problem at once, each with its path in the document and its line, so one run of
``llm-router config validate`` (or one refused worker start) shows the whole list to fix."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from infra.config_checks import Finding, environment_findings, field_suggestion, model_at, reference_findings
from infra.config_positions import json_positions, line_for, load_yaml
from schemas.config import RouterConfig
from schemas.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "ENV_OVERRIDES",
    "ConfigIssue",
    "Validation",
    "config_path",
    "load_config",
    "parse_config",
    "validate_file",
    "validate_text",
]

DEFAULT_CONFIG_PATH = Path(__file__).parent / "config" / "default.yaml"

# environment variable -> dotted path inside the config
ENV_OVERRIDES: dict[str, str] = {
    "LLM_ROUTER_KAFKA_BOOTSTRAP": "kafka.bootstrap_servers",
    "LLM_ROUTER_TOPIC_PREFIX": "kafka.topic_prefix",
    "LLM_ROUTER_CONSUMER_GROUP": "kafka.consumer_group",
    "LLM_ROUTER_REDIS_URL": "redis.url",
}

Loc = tuple[str | int, ...]
_DOTTED = re.compile(r"[A-Za-z_][\w-]*(?:\.[\w-]+)+")
_WORD = re.compile(r"[A-Za-z_]\w*")
_SECRET_NAMES = ("key", "password", "token", "secret")


@dataclass(frozen=True)
class ConfigIssue:
    """One error: where (dotted path; its line, or the environment variable its value came from) and what."""

    path: str
    message: str
    line: int | None = None
    origin: str | None = None

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else f"{source} (from ${self.origin})" if self.origin else source
        return f"{where}: {self.path + ': ' if self.path else ''}{self.message}"


@dataclass(frozen=True)
class Validation:
    """The outcome of validating one document: the config when it is valid, else every issue, in line order."""

    source: str
    config: RouterConfig | None
    issues: tuple[ConfigIssue, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.issues

    def report(self) -> str:
        count = len(self.issues)
        head = f"{self.source}: invalid configuration ({count} error{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"  {issue.render(self.source)}" for issue in self.issues)])


class _Unparsable(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


def _parse(text: str) -> tuple[object, dict[Loc, int]]:
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text), json_positions(text)
        except json.JSONDecodeError as exc:
            raise _Unparsable(f"not valid YAML/JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    try:
        return load_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = f"{exc.problem}" + (f" ({exc.context})" if exc.context else "")
        column = f" (column {mark.column + 1})" if mark else ""
        raise _Unparsable(f"not valid YAML/JSON: {detail}{column}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise _Unparsable(f"not valid YAML/JSON: {exc}", None) from None


def _apply_overrides(data: dict[str, Any], env: Mapping[str, str]) -> dict[Loc, str]:
    """Set each overridden value; returns path -> variable, so errors about it name the variable, not a line."""
    applied: dict[Loc, str] = {}
    for var, dotted in ENV_OVERRIDES.items():
        value = env.get(var)
        if not value:
            continue
        *parents, leaf = dotted.split(".")
        node: Any = data
        for key in parents:
            node = node.setdefault(key, {}) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[leaf] = value
            applied[tuple(dotted.split("."))] = var
    return applied


def _from_pydantic(error: ErrorDetails) -> Finding:
    loc = tuple(p for p in error["loc"] if p != "[key]")
    if error["type"] == "extra_forbidden":
        return Finding(loc, field_suggestion(loc))
    message = error["msg"].removeprefix("Value error, ")
    value, name = error.get("input"), str(loc[-1]) if loc else ""
    secret = any(word in name for word in _SECRET_NAMES) and not name.endswith(("_env", "_file"))
    if error["type"] != "value_error" and isinstance(value, int | float | str) and len(str(value)) <= 60 and not secret:
        message += f" (got {value!r})"
    return Finding(loc, message)


def _named_in_message(finding: Finding, positions: dict[Loc, int]) -> Loc:
    """A model-wide error sits where the document writes what its message names: a dotted path (from the root)
    or a field of that model: ``heartbeat_interval_s must be ...`` at ``kafka`` -> ``kafka.heartbeat_interval_s``."""
    loc = finding.loc
    if loc and model_at(loc) is None:
        return loc  # a field's own error
    if not loc:
        for token in _DOTTED.findall(finding.message):
            candidate = tuple(int(p) if p.isdigit() else p for p in token.split("."))
            if line_for(positions, candidate)[0]:
                return candidate
    for word in _WORD.findall(finding.message):
        if (*loc, word) in positions:
            return (*loc, word)
    return loc


def _locate(finding: Finding, positions: dict[Loc, int], overrides: dict[Loc, str]) -> ConfigIssue:
    """Path and line of a finding; a model-wide error (no path) is placed at a path its message names."""
    loc = _named_in_message(finding, positions)
    path = ".".join(map(str, loc))
    origin = next((var for p, var in overrides.items() if loc[: len(p)] == p), None)
    if origin is not None:
        return ConfigIssue(path, finding.message, origin=origin)
    prefix, line = line_for(positions, loc)
    return ConfigIssue(path, finding.message, line if prefix else None)


def _findings(
    data: dict[str, Any], env: Mapping[str, str], check_env: bool
) -> tuple[RouterConfig | None, list[Finding]]:
    checks = reference_findings(data) + (environment_findings(data, env) if check_env else [])
    try:
        return RouterConfig.model_validate(data), checks
    except ValidationError as exc:
        said = {f.message for f in checks}  # a model validator stops at the first of what the checks list
        return None, checks + [f for f in map(_from_pydantic, exc.errors()) if f.message not in said]


def validate_text(
    text: str, *, source: str = "<string>", env: Mapping[str, str] | None = None, check_env: bool = False
) -> Validation:
    """Parse YAML or JSON text, apply environment overrides, validate; ``check_env``: also check that every
    secret the config references is present in ``env`` (default: this process's environment)."""
    environ = env if env is not None else os.environ
    try:
        data, positions = _parse(text)
    except _Unparsable as exc:
        return Validation(source, None, (ConfigIssue("", exc.message, exc.line),))
    data = {} if data is None else data
    if not isinstance(data, dict):
        return Validation(
            source, None, (ConfigIssue("", f"top level must be a mapping, got {type(data).__name__}", 1),)
        )
    overrides = _apply_overrides(data, environ)
    config, findings = _findings(data, environ, check_env)
    issues = sorted((_locate(f, positions, overrides) for f in findings), key=lambda i: (i.line is None, i.line or 0))
    return Validation(source, None if issues else config, tuple(issues))


def parse_config(text: str, *, source: str = "<string>", env: Mapping[str, str] | None = None) -> RouterConfig:
    """Parse YAML or JSON text, apply environment overrides, validate; every error in one ConfigError."""
    result = validate_text(text, source=source, env=env)
    if result.config is None:
        raise ConfigError(result.report())
    return result.config


def config_path(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path:
    """``path``, else ``$LLM_ROUTER_CONFIG``, else the packaged default."""
    environ = env if env is not None else os.environ
    return Path(path or environ.get("LLM_ROUTER_CONFIG") or DEFAULT_CONFIG_PATH)


def validate_file(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None, check_env: bool = False
) -> Validation:
    """Validate the config file (chosen as :func:`config_path` does); an unreadable file raises ConfigError."""
    chosen = config_path(path, env)
    try:
        text = chosen.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"cannot read config {chosen}: {reason}") from None
    return validate_text(text, source=str(chosen), env=env, check_env=check_env)


def load_config(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None, check_env: bool = False
) -> RouterConfig:
    """Load the config from ``path``, ``$LLM_ROUTER_CONFIG`` or the packaged default, in that order; with
    ``check_env``, a secret it references but the environment lacks is an error too (a worker's start)."""
    result = validate_file(path, env=env, check_env=check_env)
    if result.config is None:
        raise ConfigError(result.report())
    return result.config

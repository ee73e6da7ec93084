"""Load :class:`RouterConfig` from YAML/JSON files and environment overrides."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from schemas.config import RouterConfig
from schemas.errors import ConfigError
from schemas.plugins import EMBEDDER_PLUGINS, PROVIDER_PLUGINS, SCHEDULER_PLUGINS, STRATEGY_PLUGINS
from schemas.registry import known_names, unknown_name_message

__all__ = ["DEFAULT_CONFIG_PATH", "ENV_OVERRIDES", "load_config", "parse_config"]

DEFAULT_CONFIG_PATH = Path(__file__).parent / "config" / "default.yaml"

# environment variable -> dotted path inside the config
ENV_OVERRIDES: dict[str, str] = {
    "LLM_ROUTER_KAFKA_BOOTSTRAP": "kafka.bootstrap_servers",
    "LLM_ROUTER_TOPIC_PREFIX": "kafka.topic_prefix",
    "LLM_ROUTER_CONSUMER_GROUP": "kafka.consumer_group",
    "LLM_ROUTER_REDIS_URL": "redis.url",
}


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def parse_config(text: str, *, source: str = "<string>", env: dict[str, str] | None = None) -> RouterConfig:
    """Parse YAML or JSON text, apply environment overrides, validate."""
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{source}: not valid YAML/JSON: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping, got {type(data).__name__}")
    for var, dotted in ENV_OVERRIDES.items():
        value = (env if env is not None else os.environ).get(var)
        if value:
            _set_path(data, dotted, value)
    try:
        config = RouterConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{source}: invalid configuration:\n" + "\n".join(lines)) from None
    lines = _unknown_plugins(config)
    if lines:
        raise ConfigError(f"{source}: invalid configuration:\n" + "\n".join(lines))
    return config


def _unknown_plugins(config: RouterConfig) -> list[str]:
    """Every plugin name the config uses that no registry knows: a load-time error, not a worker-start one."""
    uses = [(f"backends.{i}.provider", PROVIDER_PLUGINS, b.provider) for i, b in enumerate(config.backends)]
    uses += [(f"routes.{i}.strategy", STRATEGY_PLUGINS, r.strategy) for i, r in enumerate(config.routes)]
    uses.append(("worker.scheduler.kind", SCHEDULER_PLUGINS, config.worker.scheduler.kind))
    uses.append(("cache.embedder", EMBEDDER_PLUGINS, config.cache.embedder))
    if config.routing.exemplar_embedder:
        uses.append(("routing.exemplar_embedder", EMBEDDER_PLUGINS, config.routing.exemplar_embedder))
    lines, known = [], {}
    for path, point, value in uses:
        name = value.partition(":")[0] if point is EMBEDDER_PLUGINS else value  # embedder spec: kind[:argument]
        if point.group not in known:
            known[point.group] = known_names(point)
        if name not in known[point.group]:
            lines.append(f"  {path}: {unknown_name_message(point.kind, name, known[point.group])}")
    return lines


def load_config(path: str | os.PathLike[str] | None = None, *, env: dict[str, str] | None = None) -> RouterConfig:
    """Load the config from ``path``, ``$LLM_ROUTER_CONFIG`` or the packaged default, in that order."""
    environ = env if env is not None else dict(os.environ)
    chosen = Path(path or environ.get("LLM_ROUTER_CONFIG") or DEFAULT_CONFIG_PATH)
    try:
        text = chosen.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {chosen}: {exc.strerror or exc}") from None
    return parse_config(text, source=str(chosen), env=environ)

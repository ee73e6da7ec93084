"""Checks of a config document beyond one pydantic error: all of them at once, each at its own path.

pydantic stops a model validator at its first complaint and never sees the environment. These checks walk the
raw document (after environment overrides), so every unknown plugin name, every unserved route target and every
missing secret is listed together -- with the same wording as the code that would fail later at run time."""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from infra.signing_keys import resolve_key
from schemas.config import BackendConfig, RouterConfig, SigningKey
from schemas.errors import ConfigError
from schemas.plugins import (
    CACHE_STORE_PLUGINS,
    EMBEDDER_PLUGINS,
    HOOK_PLUGINS,
    PROVIDER_PLUGINS,
    SCHEDULER_PLUGINS,
    STRATEGY_PLUGINS,
)
from schemas.registry import ExtensionPoint, known_names, unknown_name_message

__all__ = ["Finding", "environment_findings", "field_suggestion", "model_at", "reference_findings"]

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Finding:
    """One problem at one place of the document (``loc`` as pydantic spells it: keys and list indexes)."""

    loc: Loc
    message: str


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: object) -> list[tuple[int, dict[str, Any]]]:
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []


def _plugin_findings(data: dict[str, Any]) -> Iterator[Finding]:
    """Every plugin name written in the document that no registry knows (defaults are always registered)."""
    uses: list[tuple[Loc, ExtensionPoint, object]] = []
    uses += [
        (("backends", i, "provider"), PROVIDER_PLUGINS, b.get("provider")) for i, b in _items(data.get("backends"))
    ]
    uses += [(("routes", i, "strategy"), STRATEGY_PLUGINS, r.get("strategy")) for i, r in _items(data.get("routes"))]
    scheduler = _dict(_dict(data.get("worker")).get("scheduler"))
    uses.append((("worker", "scheduler", "kind"), SCHEDULER_PLUGINS, scheduler.get("kind")))
    cache = _dict(data.get("cache"))
    uses.append((("cache", "embedder"), EMBEDDER_PLUGINS, cache.get("embedder")))
    uses.append((("cache", "second_embedder"), EMBEDDER_PLUGINS, cache.get("second_embedder")))
    uses.append((("cache", "store"), CACHE_STORE_PLUGINS, cache.get("store")))
    uses += [(("hooks", i, "name"), HOOK_PLUGINS, h.get("name")) for i, h in _items(data.get("hooks"))]
    uses.append(
        (("routing", "exemplar_embedder"), EMBEDDER_PLUGINS, _dict(data.get("routing")).get("exemplar_embedder"))
    )
    known: dict[str, list[str]] = {}
    for loc, point, value in uses:
        if not isinstance(value, str):
            continue  # absent (the default is registered) or the wrong type (pydantic says so)
        name = value.partition(":")[0] if point is EMBEDDER_PLUGINS else value  # embedder spec: kind[:argument]
        if point.group not in known:
            known[point.group] = known_names(point)
        if name not in known[point.group]:
            yield Finding(loc, unknown_name_message(point.kind, name, known[point.group]))


def _target_findings(data: dict[str, Any]) -> Iterator[Finding]:
    """Every route target naming an unknown backend or a model no backend serves (pydantic reports the first)."""
    backends = _items(data.get("backends"))
    names = {b.get("name") for _, b in backends}
    aliases = _dict(data.get("model_aliases"))
    for i, route in _items(data.get("routes")):
        for j, target in _items(route.get("targets")):
            model, backend = target.get("model"), target.get("backend")
            if not isinstance(model, str):
                continue
            if backend is not None and backend not in names:
                yield Finding(
                    ("routes", i, "targets", j, "backend"), f"route {route.get('name')!r}: unknown backend {backend!r}"
                )
                continue
            wanted = aliases.get(model, model)
            served = [b for _, b in backends if backend in (None, b.get("name")) and _serves(b, wanted)]
            if not served:
                yield Finding(
                    ("routes", i, "targets", j, "model"),
                    f"route {route.get('name')!r}: no backend serves model {model!r}",
                )


def _serves(backend: dict[str, Any], model: object) -> bool:
    models = backend.get("models")
    return isinstance(models, list) and ("*" in models or model in models)


def _duplicate_findings(data: dict[str, Any]) -> Iterator[Finding]:
    """Each repeated backend or route name, at its second occurrence."""
    for section, what in (("backends", "backend"), ("routes", "route")):
        seen: set[object] = set()
        for i, item in _items(data.get(section)):
            name = item.get("name")
            if name in seen:
                yield Finding((section, i, "name"), f"duplicate {what} names: {name}")
            seen.add(name)


def reference_findings(data: dict[str, Any]) -> list[Finding]:
    """Names that must refer to something that exists: plugins, backends and served models, unique names."""
    return [*_plugin_findings(data), *_target_findings(data), *_duplicate_findings(data)]


def _signing_key_findings(loc: Loc, raw: object, env: Mapping[str, str]) -> Iterator[Finding]:
    try:
        key = SigningKey.model_validate(raw)
    except ValidationError:
        return  # pydantic reports the shape
    if key.key is not None:
        return
    where = ".".join(map(str, loc))
    try:
        resolve_key(key, where, env)
    except ConfigError as exc:
        yield Finding((*loc, "key_env" if key.key_env else "key_file"), str(exc).removeprefix(f"{where}: "))


def _backend_secret_findings(data: dict[str, Any], env: Mapping[str, str]) -> Iterator[Finding]:
    from infra.providers.secrets import resolve_api_key  # imports httpx: only when checking secrets

    for i, raw in _items(data.get("backends")):
        key_env, key_file = raw.get("api_key_env"), raw.get("api_key_file")
        if not (isinstance(key_env, str) or isinstance(key_file, str)):
            continue
        backend = BackendConfig.model_construct(name=raw.get("name"), api_key_env=key_env, api_key_file=key_file)
        try:
            resolve_api_key(backend, dict(env))
        except ConfigError as exc:
            yield Finding(("backends", i, "api_key_file" if key_file else "api_key_env"), str(exc))


def _kafka_secret_findings(kafka: dict[str, Any], env: Mapping[str, str]) -> Iterator[Finding]:
    name = kafka.get("sasl_password_env")
    if isinstance(name, str) and not env.get(name):
        yield Finding(("kafka", "sasl_password_env"), f"kafka: environment variable {name} is not set")
    for field in ("sasl_password_file", "ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        path = kafka.get(field)
        if isinstance(path, str) and not FilePath(path).is_file():
            yield Finding(("kafka", field), f"kafka: {field} {path} does not exist or is not a file")


def environment_findings(data: dict[str, Any], env: Mapping[str, str]) -> list[Finding]:
    """Secrets the document references that this environment lacks: what a worker would fail on later."""
    found = [*_backend_secret_findings(data, env), *_kafka_secret_findings(_dict(data.get("kafka")), env)]
    security = _dict(data.get("security"))
    router_keys = security.get("router_keys")
    for j, raw in enumerate(router_keys if isinstance(router_keys, list) else []):
        found += _signing_key_findings(("security", "router_keys", j), raw, env)
    for tenant, raw in _dict(data.get("tenants")).items():
        keys = _dict(raw).get("keys")
        for j, key in enumerate(keys if isinstance(keys, list) else []):
            found += _signing_key_findings(("tenants", tenant, "keys", j), key, env)
    return found


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def model_at(loc: Loc, root: type[BaseModel] = RouterConfig) -> type[BaseModel] | None:
    """The model class at ``loc`` (through lists and dicts), or None when ``loc`` is not a model."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) in (list, dict):
            current = get_args(current)[-1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def field_suggestion(loc: Loc) -> str:
    """For an unknown key at ``loc``: ``did you mean 'x'?`` or the fields its section has."""
    model = model_at(loc[:-1])
    if model is None or not isinstance(loc[-1], str):
        return "unknown field"
    fields = sorted(model.model_fields)
    close = difflib.get_close_matches(loc[-1], fields, n=1, cutoff=0.6)
    if close:
        return f"unknown field {loc[-1]!r} (did you mean {close[0]!r}?)"
    return f"unknown field {loc[-1]!r}; fields here: {', '.join(fields)}"

"""What changing one config into another changes, path by path, and which of it needs a restart.

The one list of restart-only settings (:data:`RESTART_ONLY_FIELDS`) lives here, below both users: the hot
reload (``streams.config_reload``) leaves those parts as they are, and ``llm-router config diff`` marks them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python

from infra.config_mask import mask_value
from schemas.config import RouterConfig

__all__ = ["ABSENT", "RESTART_ONLY_FIELDS", "Change", "config_diff", "format_changes", "needs_restart"]

#: dotted paths (and everything under them) a running worker cannot change: they shape connections, topics,
#: consumer groups, the scheduler's queues, the cache index or the trust boundary, built once at start
RESTART_ONLY_FIELDS: tuple[str, ...] = (
    "kafka",
    "redis",
    "security",
    "tenants",
    "worker.concurrency_per_class",
    "worker.scheduler",
    "worker.metrics_port",
    "worker.metrics_host",
    "worker.stream_buffer_maxsize",
    "worker.retry.tiers_s",
    "worker.max_request_bytes",
    "worker.loglevel",
    "worker.memory_trim_s",
    "logging.format",
    "logging.log_prompts",
    "tracing",  # the tracer provider and its exporter are set up once per process
    "frontdoor",  # read when `llm-router serve` starts
    "cache.enabled",
    "cache.semantic",
    "cache.embedder",
    "cache.store",
    "cache.max_entries",
    "cache.max_partitions",
    "cache.hnsw_m",
    "cache.hnsw_ef_construction",
    "cache.hnsw_ef_search",
    "routing.exemplar_embedder",
    "limits.cluster_concurrency",
)


_ITEM = re.compile(r"\[[^\]]*\]|\(order\)$")


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


#: the old value of something added, the new value of something removed
ABSENT: Any = _Absent()


def needs_restart(path: str) -> bool:
    """Whether a change at ``path`` (``a.b``, ``a[name].b``) cannot take effect without a restart."""
    plain = _ITEM.sub("", path)
    return any(plain == p or plain.startswith((p + ".", p + "[")) for p in RESTART_ONLY_FIELDS)


@dataclass(frozen=True)
class Change:
    """``path``: dotted, items of named lists (backends, routes) as ``backends[name]``; ``old``/``new``: plain
    Python values (secrets included: mask them to show them), :data:`ABSENT` for an added or removed entry."""

    path: str
    old: Any
    new: Any
    needs_restart: bool

    def render(self) -> str:
        old, new = (_shown(self.path, v) for v in (self.old, self.new))
        return f"{self.path}: {old} -> {new}" + ("  [needs restart]" if self.needs_restart else "")


def _shown(path: str, value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    return repr(mask_value(path.rsplit(".", 1)[-1], to_jsonable_python(value)))


def _named(items: Any) -> dict[str, Any] | None:
    """A list of mappings with unique ``name``s, keyed by name; else None (compared item by item or whole)."""
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        return None
    names = [i["name"] for i in items]
    return dict(zip(names, items, strict=True)) if len(set(names)) == len(names) else None


def _walk(path: str, old: Any, new: Any, out: list[Change]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            child = f"{path}.{key}" if path else str(key)
            _walk(child, old.get(key, ABSENT), new.get(key, ABSENT), out)
        return
    before, after = _named(old), _named(new)
    if before is None or after is None:
        out.append(Change(path, old, new, needs_restart(path)))
        return
    common_old, common_new = [n for n in before if n in after], [n for n in after if n in before]
    if common_old != common_new:  # order matters (routes: first match wins)
        out.append(Change(f"{path}(order)", common_old, common_new, needs_restart(path)))
    for name in [*before, *(n for n in after if n not in before)]:
        _walk(f"{path}[{name}]", before.get(name, ABSENT), after.get(name, ABSENT), out)


def config_diff(old: RouterConfig, new: RouterConfig) -> list[Change]:
    """Every leaf that differs between ``old`` and ``new`` (defaults filled), in document order."""
    out: list[Change] = []
    _walk("", old.model_dump(), new.model_dump(), out)
    return out


def format_changes(changes: list[Change]) -> str:
    """One line per change, secrets masked; a last line counts what needs a restart."""
    if not changes:
        return "no changes"
    restart = sum(c.needs_restart for c in changes)
    lines = [c.render() for c in changes]
    return "\n".join(
        [
            *lines,
            f"{len(changes)} changes, {restart} need a restart" if restart else f"{len(changes)} changes, all live",
        ]
    )

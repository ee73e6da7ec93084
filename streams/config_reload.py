"""Hot reload of the configuration: what a new config changes live, what waits for a restart, and the watch of
the config file that triggers it (``watchfiles``; every replica watches the same file: a shared volume or a
Kubernetes ConfigMap).

A new config is validated like at start (:func:`infra.config_loader.load_config`). Its restart-only parts
(:data:`RESTART_ONLY`: Kafka, Redis, topics, scheduler, cache index, tenancy) are taken from the config in force
and reported as "needs restart", never half-applied; everything else is swapped in by
:meth:`streams.runtime.Engine.reload` between requests. An invalid file leaves the running config in force,
logs one line and counts ``llm_router_config_reload_failures_total``. The version of a config is the first 12
hex digits of the SHA-256 of its canonical JSON (``llm_router_config_info{version}``, health events, and every
response's ``routing.config_version``)."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from infra.config_diff import RESTART_ONLY_FIELDS
from infra.config_loader import load_config
from schemas.config import RouterConfig
from schemas.errors import ConfigError

__all__ = [
    "RESTART_ONLY",
    "ConfigWatcher",
    "ReloadMetrics",
    "ReloadReport",
    "config_version",
    "merge_restart_only",
]

log = logging.getLogger(__name__)

#: the one list of restart-only paths (``llm-router config diff`` marks the same ones)
RESTART_ONLY: tuple[str, ...] = RESTART_ONLY_FIELDS


def config_version(config: RouterConfig) -> str:
    """12 hex digits of the SHA-256 of the canonical JSON of ``config`` (defaults filled, keys sorted): equal
    configs have equal versions on every replica, whatever the file's layout or comments."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _paths(old: Any, new: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths where ``old`` and ``new`` (JSON data) differ; lists of different length differ as a whole."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys(), key=str):
            yield from _paths(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from _paths(a, b, f"{prefix}.{i}")
    elif old != new:
        yield prefix


def _restart_only(path: str) -> str | None:
    return next((p for p in RESTART_ONLY if path == p or path.startswith(p + ".")), None)


def merge_restart_only(old: RouterConfig, new: RouterConfig) -> tuple[RouterConfig, list[str], list[str]]:
    """``(effective, applied, needs_restart)``: ``new`` with every restart-only section taken from ``old``, the
    changed paths that apply live and those that wait for a restart. Raises ConfigError when the merge is not a
    valid config (a live change that only makes sense with a restart-only one)."""
    # python mode: secrets stay SecretStr (a JSON dump masks them, and the merge would then reject its own keys)
    before, after = old.model_dump(), new.model_dump()
    changed = list(_paths(before, after))
    restart = [p for p in changed if _restart_only(p) is not None]
    if not restart:
        return new, changed, []
    merged = copy.deepcopy(after)
    for section in sorted({s for p in restart if (s := _restart_only(p)) is not None}):
        *parents, leaf = section.split(".")
        src, dst = before, merged
        for key in parents:
            src, dst = src[key], dst[key]
        dst[leaf] = src[leaf]
    try:
        effective = RouterConfig.model_validate(merged)
    except ValueError as exc:
        why = str(exc).replace("\n", " ")
        raise ConfigError(
            f"the live part of the change is not valid without a restart ({', '.join(restart)}): {why}"
        ) from None
    return effective, [p for p in changed if p not in restart], restart


@dataclass
class ReloadReport:
    """What one reload did. ``applied``: changed paths now in force; ``needs_restart``: changed paths left as
    they were (restart the worker to apply them)."""

    previous: str
    version: str
    applied: list[str] = field(default_factory=list)
    needs_restart: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.version != self.previous

    def summary(self) -> str:
        line = f"config {self.previous} -> {self.version}" if self.changed else f"config {self.version} unchanged"
        if self.applied:
            line += f"; applied live: {_short(self.applied)}"
        if self.needs_restart:
            line += f"; needs restart (left unchanged): {_short(self.needs_restart)}"
        return line


def _short(paths: list[str], most: int = 12) -> str:
    return ", ".join(paths[:most]) + (f" (+{len(paths) - most} more)" if len(paths) > most else "")


class ReloadMetrics:
    """``llm_router_config_info{version}`` (1 for the version in force), reloads by result, failures, and the
    count of changes waiting for a restart."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.info = Gauge("llm_router_config_info", "the config version in force (1)", ["version"], registry=registry)
        self.reloads = Counter("llm_router_config_reloads", "config reloads by result", ["result"], registry=registry)
        self.failures = Counter(
            "llm_router_config_reload_failures", "config changes rejected (the old config stays)", registry=registry
        )
        self.pending_restart = Gauge(
            "llm_router_config_needs_restart", "changed settings that wait for a restart", registry=registry
        )
        self.delay = Histogram(
            "llm_router_config_reload_delay_seconds",
            "from the config file's write (its mtime) to the new config in force",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self._version: str | None = None

    def running(self, version: str) -> None:
        if self._version is not None and self._version != version:
            self.info.remove(self._version)
        self.info.labels(version).set(1)
        self._version = version

    def applied(self, report: ReloadReport, *, delay_s: float | None = None) -> None:
        self.reloads.labels("applied" if report.changed else "unchanged").inc()
        if report.changed and delay_s is not None:
            self.delay.observe(max(delay_s, 0.0))
        self.pending_restart.set(len(report.needs_restart))
        self.running(report.version)

    def rejected(self) -> None:
        self.reloads.labels("rejected").inc()
        self.failures.inc()


Reload = Callable[[RouterConfig], Awaitable[ReloadReport]]


class ConfigWatcher:
    """Watch ``path`` and reload on every change of its content. The directory is watched, not the file, so an
    editor's write-and-rename and a Kubernetes ConfigMap's symlink swap (``..data``) are both seen; events of
    other files in it are ignored. ``debounce_ms`` groups the events of one write."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        reload: Reload,
        metrics: ReloadMetrics,
        *,
        env: dict[str, str] | None = None,
        debounce_ms: int = 50,
    ) -> None:
        self.path = Path(path).absolute()
        self._reload = reload
        self._metrics = metrics
        self._env = env
        self._debounce_ms = debounce_ms
        self._digest = _digest(self.path)
        #: the watch is in place (a later change is seen)
        self.ready = asyncio.Event()
        #: ... and the file was checked once it was (the engine runs what is on disk, or rejected it)
        self.current = asyncio.Event()

    def _concerns(self, changed: str) -> bool:
        name = Path(changed).name
        return name == self.path.name or name.startswith("..") or self.path.is_symlink()

    async def run(self) -> None:
        """Watch until cancelled."""
        from watchfiles import awatch  # worker and opt-in library mode only

        log.info("watching %s for config changes", self.path)
        # watchfiles logs every event at INFO: with a log file in the watched directory, each line would be an event
        logging.getLogger("watchfiles").setLevel(logging.WARNING)
        watch = awatch(self.path.parent, debounce=self._debounce_ms, step=10, yield_on_timeout=True, rust_timeout=200)
        async for changes in watch:
            if not self.ready.is_set():  # the watch is in place: catch a change made before it was
                self.ready.set()
                try:
                    await self.check(force=True)  # the engine may run an older file than this watch first read
                finally:
                    self.current.set()
            elif any(self._concerns(p) for _, p in changes):
                await self.check()

    async def check(self, *, force: bool = False) -> ReloadReport | None:
        """Reload if the file's content changed since the last check (``force``: whatever the digest; the engine
        compares config versions); ``None`` when it did not or was rejected."""
        seen = time.time()
        digest = await asyncio.to_thread(_digest, self.path)
        if digest is None or (digest == self._digest and not force):
            return None
        self._digest = digest
        written = _mtime(self.path)
        try:
            config = await asyncio.to_thread(load_config, self.path, env=self._env, check_env=True)
            loaded = time.time()
            report = await self._reload(config)
        except ConfigError as exc:
            self._metrics.rejected()
            one_line = " ".join(line.strip() for line in str(exc).splitlines())
            log.error("config reload rejected, the running config stays in force: %s", one_line)
            return None
        done = time.time()
        self._metrics.applied(report, delay_s=done - written if written is not None else None)
        timing = _timing(written, seen, loaded, done)
        log.warning("%s%s", report.summary(), timing) if report.needs_restart else log.info(
            "%s%s", report.summary(), timing
        )
        return report


def _timing(written: float | None, seen: float, loaded: float, done: float) -> str:
    """Where a reload's time went: the watch (write to event), the load and validation, the swap."""
    parts = [f"loaded in {(loaded - seen) * 1000:.0f} ms", f"swapped in {(done - loaded) * 1000:.0f} ms"]
    if written is not None:
        parts.insert(0, f"seen {max(seen - written, 0.0) * 1000:.0f} ms after the write")
    return " (" + ", ".join(parts) + ")"


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:  # between a delete and a create: the next event reads it
        return None

"""A config edited between the worker's start (config loaded, engine built) and its watch being in place was
missed until the next edit: the watch took the file's digest when it was created, found the edited content
"unchanged" and left the worker on the old config (CI: one of two workers served the old route for 1.2 s, until
the next edit). The first check once the watch is in place must hand the file to the engine whatever its digest;
the engine compares config versions and swaps only when they differ."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from schemas.config import RouterConfig
from streams.config_reload import ConfigWatcher, ReloadMetrics, ReloadReport, config_version

BACKENDS = [{"name": "p", "base_url": "http://127.0.0.1:9/v1", "models": ["gpt-4o-mini"]}]


async def test_an_edit_made_before_the_watch_started_is_applied_once_it_is_in_place(tmp_path: Path) -> None:
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump({"backends": BACKENDS, "default_model": "gpt-4o-mini"}))
    # the engine was built from that file; then it is edited before the watch exists
    path.write_text(yaml.safe_dump({"backends": BACKENDS, "default_model": "gpt-4o-mini", "cache": {"ttl_s": 5}}))
    seen: list[RouterConfig] = []
    reloaded = asyncio.Event()

    async def reload(config: RouterConfig) -> ReloadReport:
        seen.append(config)
        reloaded.set()
        return ReloadReport("engine-version", config_version(config), ["cache.ttl_s"])

    watcher = ConfigWatcher(path, reload, ReloadMetrics(CollectorRegistry()), env={})
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(reloaded.wait(), 10)
    finally:
        task.cancel()
    assert len(seen) == 1 and seen[0].cache.ttl_s == 5

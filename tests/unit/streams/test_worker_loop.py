"""The worker's event loop and collector settings: asyncio by default (under uvloop the first config reload after
a start reached requests ~1.05 s late: tests/integration/test_config_reload.py), uvloop on request, and a larger
young-generation threshold (fewer collector passes per request)."""

from __future__ import annotations

import asyncio
import gc

import pytest

from schemas.config import WorkerSettings
from streams.worker import new_event_loop, tune_gc


def test_uvloop_on_request() -> None:
    loop = new_event_loop(WorkerSettings(event_loop="uvloop"))
    try:
        assert type(loop).__module__.startswith("uvloop")
        # threads that make their own loop (Faust's consumer thread) get uvloop too
        other = asyncio.new_event_loop()
        assert type(other).__module__.startswith("uvloop")
        other.close()
    finally:
        loop.close()
        asyncio.set_event_loop_policy(None)


def test_asyncio_is_the_default_loop() -> None:
    loop = new_event_loop(WorkerSettings())
    try:
        assert isinstance(loop, asyncio.BaseEventLoop)
        assert not type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()
        asyncio.set_event_loop_policy(None)


def test_gc_threshold_is_raised_and_zero_keeps_pythons() -> None:
    before = gc.get_threshold()
    try:
        tune_gc(WorkerSettings(gc_gen0_threshold=50_000))
        assert gc.get_threshold()[0] == 50_000
        gc.set_threshold(*before)
        tune_gc(WorkerSettings(gc_gen0_threshold=0))
        assert gc.get_threshold() == before
    finally:
        gc.set_threshold(*before)


def test_threshold_is_not_negative() -> None:
    with pytest.raises(ValueError):
        WorkerSettings(gc_gen0_threshold=-1)

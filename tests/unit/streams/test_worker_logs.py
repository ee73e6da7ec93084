"""The worker says once that it is ready, with its assignment; later rebalances are logged as such."""

from __future__ import annotations

import logging
from typing import NamedTuple

import pytest

from streams.worker import AssignmentLog


class TP(NamedTuple):
    topic: str
    partition: int


async def test_ready_once_with_the_assignment_then_reassigned(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="streams.worker")
    watch = AssignmentLog()
    await watch.on_assigned(None, {TP("r.high", 1), TP("r.high", 0), TP("r.normal", 2)})
    await watch.on_assigned(None, {TP("r.high", 0)})
    ready, again = [r for r in caplog.records if r.name == "streams.worker"]
    assert (ready.getMessage(), ready.levelno) == ("ready", logging.INFO)
    assert ready.assignment == {"r.high": [0, 1], "r.normal": [2]}  # type: ignore[attr-defined]
    assert ready.partitions == 3  # type: ignore[attr-defined]
    assert again.getMessage() == "reassigned" and again.assignment == {"r.high": [0]}  # type: ignore[attr-defined]

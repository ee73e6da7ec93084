"""``llm-router serve`` logs like the worker: JSON lines by default (the CLI's console setup is replaced as soon
as the config is read), console when ``logging.format: console``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.cli import main

BACKENDS = [{"name": "b", "base_url": "http://127.0.0.1:9/v1", "models": ["m"]}]


@pytest.fixture(autouse=True)
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    root.handlers[:] = []  # no host setup: the command installs its own, as in a real process
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _serve(tmp_path: Path, capsys: pytest.CaptureFixture[str], **extra: Any) -> str:
    """Run ``serve`` on a config it refuses at start (no API keys), then log one line through what it set up."""
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump({"backends": BACKENDS, **extra}))
    capsys.readouterr()
    assert main(["serve", "--config", str(path), "--engine", "inline"]) == 2
    capsys.readouterr()
    logging.getLogger("streams.frontdoor.server").warning("door line")
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_serve_logs_json_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = json.loads(_serve(tmp_path, capsys))
    assert line["event"] == "door line" and line["level"] == "warning"


def test_serve_logs_for_people_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _serve(tmp_path, capsys, logging={"format": "console"})
    assert "door line" in line and not line.startswith("{")

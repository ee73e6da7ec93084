"""The command line logs for people (console lines), the router's own format, unless the host process set
up logging already (a test runner, a program embedding the CLI): then, like ``logging.basicConfig``, it keeps
that setup and only quiets the client libraries."""

from __future__ import annotations

import argparse
import io
import json
import logging
from collections.abc import Iterator

import pytest

from streams.cli import _configure_logging
from streams.logs import LIBRARY_LOGGERS


@pytest.fixture
def bare_root() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {n: logging.getLogger(n).level for n in LIBRARY_LOGGERS}
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)


def _bare(root: logging.Logger) -> None:
    """No handler at all (pytest adds its capture handlers to the root for each phase of a test)."""
    root.handlers[:] = []


def _args(command: str = "send", *, verbose: bool = False, log_level: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(command=command, verbose=verbose, log_level=log_level)


def test_commands_log_console_lines_at_the_level_asked(bare_root: logging.Logger) -> None:
    _bare(bare_root)
    _configure_logging(_args(log_level="debug"))
    [handler] = bare_root.handlers
    assert bare_root.level == logging.DEBUG
    assert (logging.getLogger("httpx").level, logging.getLogger("aiokafka").level) == (
        logging.WARNING,
        logging.CRITICAL,
    )
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("x").warning("hello")
    assert "hello" in stream.getvalue()
    with pytest.raises(json.JSONDecodeError):
        json.loads(stream.getvalue())


def test_verbose_opens_the_client_libraries(bare_root: logging.Logger) -> None:
    _bare(bare_root)
    _configure_logging(_args(verbose=True))
    assert bare_root.level == logging.DEBUG and logging.getLogger("aiokafka").level == logging.DEBUG


def test_a_host_logging_setup_is_kept(bare_root: logging.Logger) -> None:
    _bare(bare_root)
    host = logging.NullHandler()
    bare_root.addHandler(host)
    bare_root.setLevel(logging.ERROR)
    _configure_logging(_args(log_level="debug"))
    assert bare_root.handlers == [host] and bare_root.level == logging.ERROR
    assert logging.getLogger("aiokafka").level == logging.CRITICAL

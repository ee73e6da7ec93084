"""Process logging: JSON lines (the router's and third-party libraries' records alike) carrying the request's
ids, levels per module, prompts kept out unless enabled, console for people."""

import io
import json
import logging
from collections.abc import Iterator

import pytest
from structlog.contextvars import clear_contextvars

from infra.log_context import OUTCOME_LOGGER, OutcomeKind, log_outcome, request_scope
from schemas.config import LoggingSettings
from streams.logs import LIBRARY_LOGGERS, LogSetup, configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = [*LIBRARY_LOGGERS, OUTCOME_LOGGER, "agents.pipeline", "some.lib", "x"]
    levels = {n: logging.getLogger(n).level for n in names}
    clear_contextvars()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)
    clear_contextvars()


def _setup(settings: LoggingSettings | None = None, **kw: object) -> tuple[LogSetup, io.StringIO]:
    stream = io.StringIO()
    setup = configure_logging(settings or LoggingSettings(format="json"), stream=stream, **kw)  # type: ignore[arg-type]
    return setup, stream


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_third_party_records_are_json_lines_with_the_bound_ids() -> None:
    _, stream = _setup()
    with request_scope(request_id="r1", tenant="acme", trace_id="t" * 32):
        logging.getLogger("some.lib").warning("connection %s reset", "c1")
    [line] = _lines(stream)
    assert line["event"] == "connection c1 reset"
    assert (line["level"], line["logger"], line["request_id"], line["tenant"]) == ("warning", "some.lib", "r1", "acme")
    assert line["trace_id"] == "t" * 32 and "timestamp" in line


def test_outcome_fields_and_exceptions_are_rendered() -> None:
    _, stream = _setup()
    with request_scope(request_id="r1"):
        log_outcome(OutcomeKind.ANSWERED, latency_ms=3.5, model="m1", route="fast")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("x").exception("failed")
    outcome, error = _lines(stream)
    assert {k: outcome[k] for k in ("event", "outcome", "latency_ms", "model", "route", "request_id")} == {
        "event": "outcome",
        "outcome": "answered",
        "latency_ms": 3.5,
        "model": "m1",
        "route": "fast",
        "request_id": "r1",
    }
    assert "ValueError: boom" in str(error["exception"])


def test_content_is_dropped_unless_prompts_are_enabled() -> None:
    _, stream = _setup()
    log_outcome(OutcomeKind.ANSWERED, prompt="my password is hunter2", answer="ok")
    [line] = _lines(stream)
    assert "prompt" not in line and "answer" not in line and "hunter2" not in stream.getvalue()
    _, stream = _setup(LoggingSettings(format="json", log_prompts=True))
    log_outcome(OutcomeKind.ANSWERED, prompt="[redacted]", answer="ok")
    [line] = _lines(stream)
    assert (line["prompt"], line["answer"]) == ("[redacted]", "ok")


def test_levels_per_module_and_libraries_quiet_by_default() -> None:
    _setup(LoggingSettings(format="json", level="info", levels={"agents.pipeline": "debug", "httpx": "info"}))
    assert logging.getLogger().level == logging.INFO
    assert logging.getLogger("agents.pipeline").level == logging.DEBUG
    assert logging.getLogger("httpx").level == logging.INFO  # named in levels: wins over the library default
    assert logging.getLogger("aiokafka").level == logging.WARNING


def test_reload_applies_new_levels_and_resets_dropped_ones() -> None:
    setup, _ = _setup(LoggingSettings(format="json", levels={"agents.pipeline": "debug"}))
    setup.apply(LoggingSettings(format="json", level="warning", levels={"some.lib": "error"}))
    assert logging.getLogger().level == logging.WARNING
    assert logging.getLogger("agents.pipeline").level == logging.NOTSET  # follows the root again
    assert logging.getLogger("some.lib").level == logging.ERROR


def test_a_root_level_given_on_the_command_line_survives_a_reload() -> None:
    setup, _ = _setup(LoggingSettings(format="json"), level="debug")
    setup.apply(LoggingSettings(format="json", level="error"))
    assert logging.getLogger().level == logging.DEBUG


def test_configuring_again_replaces_only_its_own_handler() -> None:
    foreign = logging.NullHandler()
    logging.getLogger().addHandler(foreign)
    first, _ = _setup()
    second, stream = _setup()
    root = logging.getLogger().handlers
    assert foreign in root and second.handler in root and first.handler not in root
    logging.getLogger("x").warning("once")
    assert len(_lines(stream)) == 1


def test_console_format_is_for_people() -> None:
    _, stream = _setup(LoggingSettings(format="console"))
    with request_scope(request_id="r1"):
        logging.getLogger("x").warning("hello")
    text = stream.getvalue()
    assert "hello" in text and "request_id=r1" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_the_format_default_is_the_callers() -> None:
    _, stream = _setup(LoggingSettings(), default_format="json")
    logging.getLogger("x").warning("hello")
    assert _lines(stream)[0]["event"] == "hello"

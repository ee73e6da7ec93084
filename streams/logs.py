"""How this process logs (``logging`` in the config): one handler on the root logger whose structlog
``ProcessorFormatter`` renders every record, the router's and third-party libraries' alike, as one JSON object
per line (or human-readable for the console), with the ids bound for the request being served
(:mod:`infra.log_context`). Composition only: library mode never calls this, its host configures logging.

Levels: the root from ``logging.level`` (a ``--log-level`` flag wins), the chatty client libraries
(:data:`LIBRARY_LOGGERS`) at their own level, any logger named in ``logging.levels`` at its level. A config
reload re-applies the levels (:meth:`LogSetup.apply`); the format and ``log_prompts`` need a restart."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import IO, Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from infra.log_context import CONTENT_FIELDS
from schemas.config import LoggingSettings

__all__ = ["LIBRARY_LOGGERS", "LogSetup", "configure_logging", "is_configured_by_host"]

#: client libraries that log every reconnect: at ``library_level`` unless ``logging.levels`` names them
LIBRARY_LOGGERS = ("httpx", "aiokafka", "faust", "mode")


class _RouterHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """The handler :func:`configure_logging` installs (and replaces when called again)."""


@dataclass
class LogSetup:
    """The installed handler, and what re-applies levels on a config reload."""

    handler: logging.Handler
    #: the root level given on the command line (wins over ``logging.level``), or None
    root_level: str | None = None
    library_level: str = "warning"
    _leveled: set[str] = field(default_factory=set)

    def apply(self, settings: LoggingSettings) -> None:
        """Set the levels ``settings`` asks for; a logger dropped from ``levels`` follows its parent again."""
        logging.getLogger().setLevel((self.root_level or settings.level).upper())
        wanted = {name: self.library_level for name in LIBRARY_LOGGERS} | dict(settings.levels)
        for name in self._leveled - wanted.keys():
            logging.getLogger(name).setLevel(logging.NOTSET)
        for name, level in wanted.items():
            logging.getLogger(name).setLevel(level.upper())
        self._leveled = set(wanted)


def is_configured_by_host() -> bool:
    """True when the root logger has handlers this module did not install (the host's own setup)."""
    return any(not isinstance(h, _RouterHandler) for h in logging.getLogger().handlers)


def configure_logging(
    settings: LoggingSettings,
    *,
    default_format: str = "console",
    level: str | None = None,
    library_level: str = "warning",
    stream: IO[str] | None = None,
    static: dict[str, Any] | None = None,
) -> LogSetup:
    """Install the router's handler on the root logger (replacing one installed before; other handlers stay)
    and set the levels. ``default_format``: when ``settings.format`` is unset (json for the worker, console for
    people). ``static``: fields every line carries (e.g. the worker id)."""
    fmt = settings.format or default_format
    chain = _pre_chain(static or {})
    handler = _RouterHandler(stream or sys.stderr)
    handler.setFormatter(_formatter(chain, fmt, log_prompts=settings.log_prompts, stream=handler.stream))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _RouterHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    logging.captureWarnings(True)  # warnings become records too: every line of the process is one format
    structlog.configure(  # structlog's own loggers, if anything uses them, go through the same handler
        processors=[*chain, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    setup = LogSetup(handler, root_level=level, library_level=library_level)
    setup.apply(settings)
    return setup


def _pre_chain(static: dict[str, Any]) -> list[Processor]:
    """What every record gets before rendering: the request's bound ids, level, logger, extras, time."""

    def add_static(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        for key, value in static.items():
            event.setdefault(key, value)
        return event

    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _current_trace_id,
        add_static,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _formatter(chain: list[Processor], fmt: str, *, log_prompts: bool, stream: IO[str]) -> logging.Formatter:
    tail: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if not log_prompts:
        tail.append(_drop_content)
    if fmt == "json":
        tail += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(default=str)]
    else:
        isatty = getattr(stream, "isatty", None)
        tail.append(structlog.dev.ConsoleRenderer(colors=bool(isatty and isatty())))
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=chain, processors=tail)


def _drop_content(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Prompts and answers never reach a log line unless ``logging.log_prompts`` is on, whoever logged them."""
    for key in CONTENT_FIELDS.intersection(event):
        del event[key]
    return event


def _current_trace_id(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """The trace id of the current OpenTelemetry span, when tracing is loaded and no trace id is bound."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None or "trace_id" in event:
        return event
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = format(context.trace_id, "032x")
    return event

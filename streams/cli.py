"""``llm-router`` command line: the parser, the global options, and errors turned into one clear line.

The subcommands live in :mod:`streams.commands`, one module per group. Benchmarks are not here: they run as
``python -m benchmarks <name>`` (the product does not import ``benchmarks/``).
"""

from __future__ import annotations

import argparse
import logging
import sys

from schemas.errors import RouterError
from streams.commands import cache, config_of, dlq, send, serve, service
from streams.commands import config as config_commands
from streams.console import command as console_command

__all__ = ["build_parser", "main"]

LOG_LEVELS = ["debug", "info", "warning", "error", "critical"]
NOISY_LOGGERS = ("httpx", "aiokafka", "faust", "mode")
EXIT_UNAVAILABLE = 2


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llm-router")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


def global_options(*, top_level: bool) -> argparse.ArgumentParser:
    """``--config``, ``--log-level``, ``-v``: accepted before the subcommand and after it.

    The top-level parser owns the defaults; every subcommand parser repeats the options with suppressed defaults,
    so a value given after the subcommand wins and one given before it is not reset to the default.
    """
    unset = None if top_level else argparse.SUPPRESS
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("global options (before or after the subcommand)")
    group.add_argument(
        "--config",
        default=unset,
        metavar="PATH",
        help="YAML/JSON config (default: $LLM_ROUTER_CONFIG, else the packaged default)",
    )
    group.add_argument(
        "--log-level",
        "--loglevel",
        dest="log_level",
        type=str.lower,
        choices=LOG_LEVELS,
        default=unset,
        metavar="LEVEL",
        help=f"{', '.join(LOG_LEVELS)} (default: info; for `worker`, worker.loglevel from the config)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False if top_level else argparse.SUPPRESS,
        help="debug logging, including Kafka and HTTP clients",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-router",
        description="Event-driven LLM router on Kafka. `llm-router COMMAND --help` explains each command.",
        parents=[global_options(top_level=True)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}", help="print the version")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = [global_options(top_level=False)]
    for group in (service, serve, send, dlq, cache, config_commands, console_command):
        group.register(sub, parents)
    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    """Console lines for people (``worker`` switches to the config's format, JSON by default, once it has read
    it). A host that set up logging already (a test runner, a program calling main()) keeps its setup, as with
    ``logging.basicConfig``; only the client libraries are quieted."""
    from schemas.config import LoggingSettings
    from streams.logs import configure_logging, is_configured_by_host

    level = logging.DEBUG if args.verbose else getattr(logging, (args.log_level or "info").upper())
    libraries = logging.DEBUG if args.verbose else max(level, logging.WARNING)
    if not is_configured_by_host():
        name = logging.getLevelName(level).lower()
        settings = LoggingSettings.model_validate({"format": "console", "level": name})
        configure_logging(settings, library_level=logging.getLevelName(libraries))
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(libraries)
    if not args.verbose and args.command != "worker":
        # a short-lived client: aiokafka logs every failed connection attempt at ERROR before it raises the one
        # error that matters, which main() turns into a single line
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def _endpoint(args: argparse.Namespace, what: str) -> str:
    """Kafka's bootstrap servers or Redis's URL as configured, for an error message."""
    try:
        config = config_of(args)
    except RouterError:
        return "(unknown)"
    return config.kafka.bootstrap_servers if what == "kafka" else config.redis.url


def _unreachable(exc: Exception, args: argparse.Namespace) -> str | None:
    """The one line for Kafka or Redis being out of reach, None for any other error.

    Looked up in ``sys.modules``: a client library that was never imported cannot have raised, and a command
    that needs neither does not pay for importing them.
    """
    kafka_errors, redis_errors = sys.modules.get("aiokafka.errors"), sys.modules.get("redis.exceptions")
    if kafka_errors is not None and isinstance(exc, kafka_errors.KafkaConnectionError):
        name, where = "Kafka", _endpoint(args, "kafka")
    elif redis_errors is not None and isinstance(exc, redis_errors.ConnectionError):
        name, where = "Redis", _endpoint(args, "redis")
    else:
        return None
    return (
        f"llm-router: cannot reach {name} at {where} (is it running? start it with infra/bin/{name.lower()}-start.sh)"
    )


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.handler(args))
    except RouterError as exc:
        print(f"llm-router: {exc}", file=sys.stderr)
    except Exception as exc:
        line = _unreachable(exc, args)
        if line is None:
            raise
        print(line, file=sys.stderr)
    return EXIT_UNAVAILABLE


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``llm-router console``: the operations console's subcommand (registered by :mod:`streams.cli`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from streams.commands import add_command, config_of

if TYPE_CHECKING:
    from streams.commands import Subparsers

__all__ = ["register"]


def _console(args: argparse.Namespace) -> int:
    from streams.console.server import parse_listen, run

    config = config_of(args, check_env=True)
    host, port = parse_listen(args.listen, config)
    run(config, host, port)
    return 0


def register(sub: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub, "console", "the operations console: a live web page of backends, queues, cost and dead letters", parents
    )
    p.set_defaults(handler=_console)
    p.add_argument("--listen", metavar="HOST:PORT", help="where it listens (default: console.host:console.port)")

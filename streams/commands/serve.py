"""``serve``: the OpenAI-compatible HTTP front door (``streams.frontdoor``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from streams.commands import add_command, config_of

if TYPE_CHECKING:
    from streams.commands import Subparsers

__all__ = ["register"]


def _serve(args: argparse.Namespace) -> int:
    config = config_of(args, check_env=True)
    from streams.frontdoor.server import EngineKind, ServeOptions, run
    from streams.logs import configure_logging

    # a service, like the worker: JSON lines unless `logging.format: console` (replaces the CLI's console setup)
    configure_logging(
        config.logging, default_format="json", level=args.log_level or ("debug" if args.verbose else None)
    )

    options = ServeOptions(EngineKind(args.engine), args.host, args.port, args.door_id)
    run(config, options)
    return 0


def register(sub: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    s = add_command(
        sub, "serve", "run the OpenAI-compatible HTTP front door (POST /v1/chat/completions)", parents, _serve
    )
    s.add_argument(
        "--engine",
        choices=["kafka", "inline"],
        default="kafka",
        help="kafka: requests go to the workers through Kafka (default); inline: the engine runs in this process, "
        "no Kafka (a small deployment in one process)",
    )
    s.add_argument("--host", default=None, help="address to listen on (default: frontdoor.host)")
    s.add_argument("--port", type=int, default=None, help="port to listen on (default: frontdoor.port)")
    s.add_argument(
        "--door-id",
        default=None,
        help="names this door's reply topic (default: frontdoor.door_id, else <host name>-<port>)",
    )

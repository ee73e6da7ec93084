"""The ``llm-router`` subcommands, one module per group; each module's ``register`` adds its parsers.

Handlers import what they need when they run, so ``llm-router --help`` stays fast and a subcommand never pays
for another's dependencies (Faust, the embedder, aiohttp).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from schemas.config import RouterConfig

    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["Handler", "add_command", "config_of"]

Handler = Callable[[argparse.Namespace], int]


def add_command(
    sub: Subparsers,
    name: str,
    help: str,
    parents: list[argparse.ArgumentParser],
    handler: Handler | None = None,
) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` repeats its one-line summary and lists the global options too."""
    parser = sub.add_parser(name, help=help, description=help, parents=parents)
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


def config_of(args: argparse.Namespace, *, check_env: bool = False) -> RouterConfig:
    """The config named by ``--config`` (else ``$LLM_ROUTER_CONFIG``, else the packaged default); ``check_env``:
    every secret it references must be in the environment (a worker's start: refused now, not crash-looping later)."""
    from infra.config_loader import load_config

    return load_config(args.config, check_env=check_env)

"""Running things: ``worker``, ``topics``, ``fake-provider``, ``demo``."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING

from streams.commands import add_command, config_of

if TYPE_CHECKING:
    from streams.commands import Subparsers

__all__ = ["register"]


def _worker(args: argparse.Namespace) -> int:
    config = config_of(args, check_env=True)  # a config validate rejects stops here, before Faust is even imported
    from streams.worker import run_worker

    loglevel = args.log_level or ("debug" if args.verbose else None)
    # a config file named on the command line or in the environment is watched and reloaded live
    watched = None if args.no_watch else (args.config or os.environ.get("LLM_ROUTER_CONFIG"))
    run_worker(config, loglevel=loglevel, config_path=watched)
    return 0


def _topics(args: argparse.Namespace) -> int:
    from streams.topics import ensure_topics, tenant_topic_ids

    config = config_of(args)
    tenants = tenant_topic_ids(config)
    created = asyncio.run(ensure_topics(config.kafka, retry_tiers_s=config.worker.retry.tiers_s, tenants=tenants))
    print("\n".join(created) if created else "all topics exist")
    return 0


def _fake_provider(args: argparse.Namespace) -> int:
    from aiohttp import web

    from infra.fake_provider.server import build_app

    if args.uvloop:
        import uvloop

        uvloop.install()
    print(f"fake provider on http://{args.host}:{args.port} (OpenAI: /b/<backend>/v1/chat/completions)", flush=True)

    def ready(_: str) -> None:
        print(f"fake provider ready (pid {os.getpid()})", flush=True)  # start_fake_providers waits for this line

    web.run_app(
        build_app(args.seed),
        host=args.host,
        port=args.port,
        print=ready,
        access_log=None,
        reuse_port=args.reuse_port or None,
        backlog=1024,
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from streams.demo import DemoOptions, default_state_dir
    from streams.demo import main as demo_main

    opts = DemoOptions(requests=args.requests, state_dir=default_state_dir(), timeout_s=args.timeout)
    if args.config:
        opts.config_path = Path(args.config).resolve()
    return demo_main(opts)


def register(sub: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    w = add_command(sub, "worker", "run a router worker (Faust); start several to scale out", parents, _worker)
    w.add_argument(
        "--no-watch", action="store_true", help="do not reload the config file when it changes (default: reload)"
    )
    add_command(sub, "topics", "create the topics that are missing (workers do it on start too)", parents, _topics)

    f = add_command(sub, "fake-provider", "run the fake OpenAI-format provider server", parents, _fake_provider)
    f.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    f.add_argument("--port", type=int, default=8900, help="port to listen on (default: %(default)s)")
    f.add_argument("--seed", type=int, default=None, help="random seed of the fault injection (default: random)")
    f.add_argument(
        "--reuse-port",
        action="store_true",
        help="SO_REUSEPORT: several processes share the port and the kernel spreads connections over them "
        "(each process keeps its own fault plans and counters)",
    )
    f.add_argument("--uvloop", action="store_true", help="run on uvloop instead of asyncio's default loop")

    d = add_command(sub, "demo", "fake providers + a worker + a mixed workload, then a summary", parents, _demo)
    d.add_argument("--requests", type=int, default=300, help="valid requests to send (default: %(default)s)")
    d.add_argument(
        "--timeout",
        type=float,
        default=180.0,
        help="seconds to wait for the worker and the answers (default: %(default)s)",
    )

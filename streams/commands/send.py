"""Talking to the router: ``send`` a prompt, ``get`` the answer of one sent earlier."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from streams.commands import add_command, config_of

if TYPE_CHECKING:
    from schemas.events import ChatRequest, ChatResponse
    from streams.commands import Subparsers

__all__ = ["build_request", "describe", "register"]

EXIT_ERROR_RESPONSE = 2
EXIT_NO_RESPONSE = 3


def build_request(args: argparse.Namespace) -> ChatRequest:
    """The request ``send`` produces; an invalid field is a one-line error, not a traceback."""
    from pydantic import ValidationError

    from schemas.errors import MessageError
    from schemas.events import CachePolicy, ChatMessage, ChatRequest, Priority, utcnow

    messages = [ChatMessage(role="user", content=args.prompt)]
    if args.system:
        messages.insert(0, ChatMessage(role="system", content=args.system))
    try:
        return ChatRequest(
            messages=messages,
            priority=Priority(args.priority),
            tenant=args.tenant,
            model=args.model,
            route=args.route,
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            cache=CachePolicy(args.cache),
            deadline=None if args.deadline is None else utcnow() + timedelta(seconds=args.deadline),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise MessageError(f"invalid request: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def describe(response: ChatResponse) -> str:
    """The line under an answer: where it came from (the cache says so plainly), how long, what it cost."""
    took = f"in {response.latency.total_ms:.0f} ms"
    if response.cache_hit == "semantic-translated":
        sim = "" if response.similarity is None else f", similarity {response.similarity:.3f}"
        return (
            f"-- from the cache (semantic match{sim}), translated by {response.backend}/{response.model} {took}, "
            f"{response.usage.total_tokens} tokens, ${response.cost_usd:.6f}"
        )
    if response.cache_hit == "semantic":
        sim = "" if response.similarity is None else f", similarity {response.similarity:.3f}"
        return f"-- from the cache (semantic match{sim}), no provider call; {response.model} {took}"
    if response.cache_hit == "exact":
        return f"-- from the cache (exact match), no provider call; {response.model} {took}"
    return (
        f"-- {response.backend}/{response.model} {took}, {response.usage.total_tokens} tokens, "
        f"${response.cost_usd:.6f}, {len(response.attempts)} attempt(s)"
    )


def show(response: ChatResponse, *, as_json: bool) -> int:
    """Print a response (the answer on stdout, the rest on stderr); 2 for an error response."""
    if as_json:
        print(response.model_dump_json(indent=2))
        return 0 if response.status == "ok" else EXIT_ERROR_RESPONSE
    if response.status == "ok":
        print(response.content)
        print(describe(response), file=sys.stderr)
        return 0
    code, message = (response.error.code, response.error.message) if response.error else ("unknown", "")
    print(f"error {code}: {message}", file=sys.stderr)
    return EXIT_ERROR_RESPONSE


def _send(args: argparse.Namespace) -> int:
    from schemas.wire import TopicNames
    from streams.client import RouterClient

    config = config_of(args)
    request = build_request(args)
    key = signing_key(args)
    signed = {"tenant": args.tenant, "key": key} if key is not None else {}

    async def go() -> int:
        async with RouterClient(config.kafka, topics=TopicNames(config.kafka.topic_prefix), **signed) as c:
            if not args.wait:
                await c.produce(request)
                print(request.request_id)
                return 0
            response = await c.complete(request, timeout_s=args.timeout)
        return show(response, as_json=args.json)

    try:
        return asyncio.run(go())
    except TimeoutError:
        print(
            f"llm-router: no response within {args.timeout:g}s (is a worker running? `llm-router worker`); "
            f"later: llm-router get {request.request_id}",
            file=sys.stderr,
        )
        return EXIT_NO_RESPONSE


def signing_key(args: argparse.Namespace) -> str | None:
    """The tenant's signing key from ``--key-file`` or ``--key-env`` (never from the command line itself, where
    every user of the machine could read it in the process list)."""
    from schemas.errors import ConfigError

    if args.key_file is not None:
        try:
            key = args.key_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"--key-file {args.key_file}: {exc.strerror or exc}") from None
        source = f"--key-file {args.key_file}"
    elif args.key_env is not None:
        key = os.environ.get(args.key_env, "").strip()
        source = f"--key-env {args.key_env}"
    else:
        return None
    if not key:
        raise ConfigError(f"{source}: no signing key there (empty or not set)")
    return key


def _get(args: argparse.Namespace) -> int:
    from schemas.wire import TopicNames
    from streams.client import fetch_response

    config = config_of(args)
    topic = TopicNames(config.kafka.topic_prefix).responses
    response = asyncio.run(fetch_response(config.kafka, topic, args.request_id, timeout_s=args.timeout))
    if response is None:
        print(f"llm-router: no response for {args.request_id} found within {args.timeout:g}s", file=sys.stderr)
        return EXIT_NO_RESPONSE
    return show(response, as_json=args.json)


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _temperature(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 2.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2, got {text}")
    return value


def _register_send(sub: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    from schemas.events import PRIORITIES, CachePolicy

    s = add_command(sub, "send", "send one prompt and print the answer", parents, _send)
    s.add_argument("prompt", help="the user message")
    s.add_argument("--system", help="a system message sent before the prompt")
    s.add_argument(
        "--priority", default="normal", choices=[p.value for p in PRIORITIES], help="priority class (default: normal)"
    )
    s.add_argument("--tenant", default="default", help="tenant the request is accounted to (default: default)")
    signing = s.add_mutually_exclusive_group()
    signing.add_argument(
        "--key-file", type=Path, default=None, help="file holding the tenant's signing key (security.tenancy: signed)"
    )
    signing.add_argument(
        "--key-env", default=None, metavar="NAME", help="environment variable holding the tenant's signing key"
    )
    s.add_argument("--model", default=None, help="model name or alias (default: the router decides)")
    s.add_argument("--route", default=None, help="named route from the config; overrides --model")
    s.add_argument("--max-tokens", type=int, default=None, help="cap on the answer's length in tokens")
    s.add_argument("--temperature", type=_temperature, default=None, help="sampling temperature, 0 to 2")
    s.add_argument(
        "--cache",
        default="use",
        choices=[c.value for c in CachePolicy],
        help="cache policy: use (default), bypass, refresh (ask the provider, store the answer), only (cache or fail)",
    )
    s.add_argument("--deadline", type=_positive, default=None, metavar="SECONDS", help="give up this long from now")
    s.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="wait for the response (default), or print the request id and exit (fetch it later with `get`)",
    )
    s.add_argument("--timeout", type=_positive, default=60.0, help="seconds to wait for the answer (default: 60)")
    s.add_argument("--json", action="store_true", help="print the whole response event as JSON")


def register(sub: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    _register_send(sub, parents)
    g = add_command(
        sub, "get", "print the response to a request sent earlier (e.g. with send --no-wait)", parents, _get
    )
    g.add_argument("request_id", metavar="REQUEST_ID", help="the id `send --no-wait` printed")
    g.add_argument(
        "--timeout", type=_positive, default=10.0, help="seconds to look and wait for it (default: %(default)s)"
    )
    g.add_argument("--json", action="store_true", help="print the whole response event as JSON")

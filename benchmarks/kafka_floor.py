"""``python -m benchmarks floor``: the floor a Python Kafka worker stands on, next to ours, in one run.

The attribution benchmark showed that what can be switched off in our worker (Redis, leases, the log line) is
worth little of its ~5.5 ms CPU per request. What is left is consuming and producing (Faust on aiokafka) and the
pipeline around the processor. This measures how much of that is the Kafka client itself: a *floor* worker that
does only what any router must (aiokafka consumer in a group, one HTTP call to the provider with aiohttp, one
produce of the answer with ``acks=all`` and idempotence, offsets committed per batch; no Faust, no validation, no
claims, no metrics), against our worker, on the same harness, load generator and rate. The gap is what our
worker's machinery costs; the floor is what a rewrite of the consume/produce path could at best approach.

Run as a worker (``python -m benchmarks.kafka_floor serve CONFIG``), it is the floor worker itself.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from benchmarks.harness import RESULTS_DIR, Deployment, deployment, write_results
from benchmarks.service_bench import MODEL, ONE_WORKER_SECTIONS, measure_one_worker
from streams.report import print_table

__all__ = ["FloorOptions", "run", "serve"]

#: the floor worker's name on its answers (the load generator waits for answers from it)
FLOOR = "floor"
#: the floor on Faust (our app's settings and transport, no pipeline)
FAUST_FLOOR = "faust-floor"
#: how each floor worker is started (``python -m benchmarks.kafka_floor COMMAND CONFIG``)
_SERVE = {FLOOR: "serve", FAUST_FLOOR: "serve-faust"}


@dataclass(frozen=True)
class FloorOptions:
    rate: float = 150.0
    step_s: float = 15.0
    repeats: int = 2
    name: str = "kafka-floor"


# --- the floor worker ------------------------------------------------------------------------------------------
async def serve(config_path: str) -> None:
    """Consume every request topic in a group; per record: one provider call, one answer produced; commit each
    batch once its answers are produced (at least once, like ours)."""
    import aiohttp
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from infra.config_loader import load_config
    from schemas.wire import TopicNames

    cfg = load_config(config_path, env={})
    topics = TopicNames(cfg.kafka.topic_prefix)
    url = f"{cfg.backends[0].base_url}/chat/completions"
    consumer = AIOKafkaConsumer(
        *topics.all_requests,
        bootstrap_servers=cfg.kafka.bootstrap_servers,
        group_id=f"{cfg.kafka.consumer_group}-floor",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=cfg.kafka.fetch_max_wait_ms,
        max_poll_records=cfg.kafka.max_poll_records,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=cfg.kafka.bootstrap_servers, acks="all", enable_idempotence=True, linger_ms=2
    )
    await consumer.start()
    await producer.start()
    async with aiohttp.ClientSession() as http:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                records = [r for rs in batches.values() for r in rs]
                if records:
                    await asyncio.gather(*(_answer(http, producer, url, topics.responses, r) for r in records))
                    await consumer.commit()
        finally:
            await consumer.stop()
            await producer.stop()


async def _answer(http: Any, producer: Any, url: str, topic: str, record: Any) -> None:
    """One request: the provider's answer, produced (awaiting the broker's ack, as ours does before committing)."""
    body = orjson.loads(record.value)
    started = time.perf_counter()
    async with http.post(url, json={"model": body.get("model") or MODEL, "messages": body["messages"]}) as resp:
        data = await resp.json(loads=orjson.loads)
    provider_ms = (time.perf_counter() - started) * 1000
    answer = {
        "request_id": body["request_id"],
        "status": "ok",
        "content": data["choices"][0]["message"]["content"],
        "created_at": datetime.now(UTC).isoformat(),
        "worker": FLOOR,
        "latency": {"provider_ms": provider_ms, "total_ms": provider_ms},
    }
    await (await producer.send(topic, orjson.dumps(answer), key=record.key))


def serve_faust(config_path: str) -> None:
    """The same floor on Faust: our app's settings and transport, one raw agent per request topic with manual
    acks like ours, the same aiohttp call and produce. Its gap to the bare floor is Faust's own cost; its gap
    to ours is our pipeline's."""
    import aiohttp
    import faust

    from infra.config_loader import load_config
    from schemas.wire import TopicNames
    from streams.app import faust_settings
    from streams.kafka_transport import RouterTransport

    cfg = load_config(config_path, env={})
    topics = TopicNames(cfg.kafka.topic_prefix)
    url = f"{cfg.backends[0].base_url}/chat/completions"

    class FloorApp(faust.App):
        fetch_max_wait_ms = cfg.kafka.fetch_max_wait_ms

        def _new_transport(self) -> Any:
            return RouterTransport(self.conf.broker_consumer, self)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = FloorApp(f"{cfg.kafka.consumer_group}-faust-floor", loop=loop, **faust_settings(cfg))
    sessions: list[Any] = []

    async def http() -> Any:
        if not sessions:
            sessions.append(aiohttp.ClientSession())
        return sessions[0]

    class _Producer:
        async def send(self, topic: str, value: bytes, key: bytes | None) -> Any:
            return await app.send(topic, key=key, value=value, key_serializer="raw", value_serializer="raw")

    producer = _Producer()

    for topic in topics.all_requests:
        channel = app.topic(topic, key_serializer="raw", value_serializer="raw")

        async def agent(stream: Any) -> None:
            manual = stream.noack()
            async for event in manual.events():
                msg = event.message
                await _answer(await http(), producer, url, topics.responses, msg)
                await manual.ack(event)

        agent.__name__ = agent.__qualname__ = f"floor_{topic.replace('.', '_').replace('-', '_')}"
        app.agent(channel, concurrency=cfg.worker.concurrency_per_class)(agent)
    worker = faust.Worker(app, loglevel="warning", loop=loop, quiet=True, redirect_stdouts=False)
    worker.spinner = None
    worker.execute_from_commandline()


# --- the benchmark ---------------------------------------------------------------------------------------------
def _start_floor(dep: Deployment, kind: str) -> subprocess.Popen[bytes]:
    log = open(dep.log_dir / f"{kind}-worker.log", "wb")
    cmd = [sys.executable, "-m", "benchmarks.kafka_floor", _SERVE[kind], str(dep.config_path)]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


async def _one(kind: str, opts: FloorOptions) -> dict[str, Any]:
    """One run: a fresh deployment, the floor worker or ours, one step at ``opts.rate``."""
    async with deployment(f"floor-{kind}", [("svc", [MODEL])], **ONE_WORKER_SECTIONS) as dep:
        floor = _start_floor(dep, kind) if kind in _SERVE else None
        pid = floor.pid if floor is not None else dep.start_worker().pid
        try:
            step = await measure_one_worker(dep, pid, opts.rate, opts.step_s)
        finally:
            if floor is not None:
                floor.terminate()
                floor.wait(10)
    print(
        f"[floor] {kind:11s} worker {step['worker_cpu_ms_per_request']:.2f} ms/req, answered "
        f"{step['answered_rps_during']:.0f}/s, added p50 {step['added_p50_ms']:.1f} p99 {step['added_p99_ms']:.1f} ms",
        flush=True,
    )
    return step


async def run(opts: FloorOptions) -> dict[str, Any]:
    """Floor and ours interleaved, ``repeats`` times each; the ratio of their worker CPU per request."""
    runs: dict[str, list[dict[str, Any]]] = {FLOOR: [], FAUST_FLOOR: [], "ours": []}
    for _ in range(opts.repeats):
        for kind in runs:
            runs[kind].append(await _one(kind, opts))
    cpu = {k: [s["worker_cpu_ms_per_request"] for s in v] for k, v in runs.items()}
    mean = {k: sum(v) / len(v) for k, v in cpu.items()}
    out = {
        "worker_cpu_ms_per_request": cpu,
        "mean_ms": mean,
        "ours_over_floor": mean["ours"] / mean[FLOOR],
        "faust_floor_over_floor": mean[FAUST_FLOOR] / mean[FLOOR],
        "ours_over_faust_floor": mean["ours"] / mean[FAUST_FLOOR],
        "added_p50_ms": {k: [s["added_p50_ms"] for s in v] for k, v in runs.items()},
        "added_p99_ms": {k: [s["added_p99_ms"] for s in v] for k, v in runs.items()},
        "setup": {"rate": opts.rate, "step_s": opts.step_s, "repeats": opts.repeats},
    }
    path = write_results(opts.name, out)
    print_table(
        ["worker", "CPU ms/req (runs)", "mean", "added p50 ms (runs)"],
        [
            [
                k,
                " / ".join(f"{x:.2f}" for x in cpu[k]),
                round(mean[k], 2),
                " / ".join(f"{x:.0f}" for x in out["added_p50_ms"][k]),
            ]
            for k in runs
        ],
    )
    print(
        f"\nours / floor: {out['ours_over_floor']:.2f}; Faust floor / floor: {out['faust_floor_over_floor']:.2f}; "
        f"ours / Faust floor: {out['ours_over_faust_floor']:.2f}\nwrote {path}"
    )
    _plot(out, RESULTS_DIR / f"{opts.name}.png")
    return out


def _plot(out: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        print("[floor] matplotlib missing: no plot (pip install -e '.[bench]')")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(out["worker_cpu_ms_per_request"])
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.bar(names, [out["mean_ms"][n] for n in names], color=["tab:gray", "tab:olive", "tab:blue"][: len(names)])
    for i, n in enumerate(names):
        runs = out["worker_cpu_ms_per_request"][n]
        ax.plot([i] * len(runs), runs, "k.")
    ax.set_ylabel("worker CPU ms / request")
    ax.set_title(f"bare aiokafka, bare Faust and ours, {out['setup']['rate']:.0f} req/s")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        asyncio.run(serve(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "serve-faust":
        serve_faust(sys.argv[2])
    else:
        sys.exit("usage: python -m benchmarks.kafka_floor serve CONFIG (the benchmark: python -m benchmarks floor)")

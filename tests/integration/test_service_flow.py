"""Request events on real Kafka → Faust worker → fake provider → response events."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter

import pytest

from schemas.events import PRIORITIES, ChatMessage, ChatRequest, DeadLetter, FailureEvent
from tests.integration.conftest import RouterEnv
from tests.integration.helpers import gather_responses, read_topic

pytestmark = pytest.mark.integration


def _requests(n: int, tag: str) -> list[ChatRequest]:
    return [
        ChatRequest(
            request_id=f"{tag}-{i:04d}",
            tenant=f"tenant-{i % 3}",
            priority=PRIORITIES[i % 4],
            messages=[ChatMessage(role="user", content=f"question number {i}")],
        )
        for i in range(n)
    ]


async def test_200_requests_get_200_matching_responses(router_env: RouterEnv) -> None:
    router_env.fake.set_faults(router_env.backend, latency_ms=5)
    router_env.start_worker()
    requests = _requests(200, "r200")
    async with router_env.client() as client:
        futures = [await client.submit(r) for r in requests]
        responses = await gather_responses(futures, 120, router_env.workers)
    assert [r.request_id for r in responses] == [r.request_id for r in requests]
    assert all(r.status == "ok" for r in responses), Counter(r.error.code for r in responses if r.error)
    for req, resp in zip(requests, responses, strict=True):
        assert resp.content == f"[gpt-4o-mini] answer to: {req.messages[0].content}"
        assert (resp.tenant, resp.priority) == (req.tenant, req.priority)
    assert router_env.fake.stats(router_env.backend)["ok"] == 200


async def test_malformed_messages_are_dead_lettered_while_valid_traffic_flows(router_env: RouterEnv) -> None:
    router_env.start_worker()
    topics = router_env.topics
    bad: list[bytes] = [
        b"\x00\x01\x02 binary junk",
        b"{ truncated json",
        json.dumps({"request_id": "bad-schema-1", "messages": []}).encode(),
        json.dumps(
            {"request_id": "bad-schema-2", "messages": [{"role": "user", "content": "x"}], "priority": "urgent"}
        ).encode(),
        json.dumps({"schema_version": 42, "messages": [{"role": "user", "content": "x"}]}).encode(),
    ]
    valid = _requests(60, "mixed")
    async with router_env.client() as client:
        futures = []
        for i, req in enumerate(valid):
            futures.append(await client.submit(req))
            if i % 12 == 0:
                await client.produce_raw(topics.requests(PRIORITIES[i % 4]), bad[i // 12], key=b"evil")
        responses = await gather_responses(futures, 120, router_env.workers)
    assert all(r.status == "ok" for r in responses)
    assert {r.request_id for r in responses} == {r.request_id for r in valid}

    letters = await read_topic(router_env.config.kafka.bootstrap_servers, topics.deadletter, DeadLetter, min_count=5)
    assert sorted(lt.original_bytes() for lt in letters) == sorted(bad)
    assert {lt.reason for lt in letters} == {"invalid_message"}
    assert all(lt.error and lt.source_topic in topics.all_requests and lt.offset is not None for lt in letters)
    assert {lt.request_id for lt in letters} >= {"bad-schema-1", "bad-schema-2"}

    failures = await read_topic(router_env.config.kafka.bootstrap_servers, topics.failures, FailureEvent, min_count=5)
    decode_failures = [f for f in failures if f.stage == "decode"]
    assert len(decode_failures) == 5
    assert Counter(f.code for f in decode_failures) == {"invalid_json": 2, "schema_invalid": 3}
    assert router_env.workers[0].alive()


async def test_worker_killed_mid_stream_loses_nothing(router_env: RouterEnv) -> None:
    router_env.fake.set_faults(router_env.backend, latency_ms=40, latency_jitter_ms=20)
    first = router_env.start_worker()
    requests = _requests(400, "kill")
    async with router_env.client() as client:
        futures = [await client.submit(r) for r in requests]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        while sum(f.done() for f in futures) < 60:
            assert loop.time() < deadline, f"worker too slow before the kill:\n{first.tail()}"
            await asyncio.sleep(0.05)
        answered_before = sum(f.done() for f in futures)
        first.kill()  # SIGKILL: no shutdown hooks, no final commit
        assert answered_before < len(requests), "the kill came too late to test anything"
        second = router_env.start_worker()
        responses = await gather_responses(futures, 150, router_env.workers)
    assert {r.request_id for r in responses} == {r.request_id for r in requests}
    assert all(r.status == "ok" for r in responses)
    workers = Counter(r.worker for r in responses)
    assert len(workers) == 2, f"expected answers from both workers, got {workers}"
    assert second.alive()


async def test_reply_to_topic_receives_the_response(router_env: RouterEnv) -> None:
    router_env.start_worker()
    reply_topic = router_env.topics.responses  # a reply topic that exists; the client reads it
    async with router_env.client(reply_topic=reply_topic) as client:
        req = ChatRequest(messages=[ChatMessage(role="user", content="ping")], reply_to=reply_topic)
        resp = await client.complete(req, timeout_s=90)
    assert resp.status == "ok" and resp.request_id == req.request_id


async def test_cli_send_waits_for_the_answer(router_env: RouterEnv) -> None:
    router_env.start_worker()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams.cli",
        "send",
        "What is Kafka?",
        "--priority",
        "high",
        "--wait",
        "--timeout",
        "90",
        "--config",
        str(router_env.config_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == "[gpt-4o-mini] answer to: What is Kafka?"
    assert "attempt" in err.decode()

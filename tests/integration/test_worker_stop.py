"""A record whose outcome cannot be published is never acknowledged (issue 13): on a real broker, the router's
Faust agent commits the records handled before it, stops the app on WorkerStop, and the committed offset stays
at that record, so the group's next member consumes it again."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import faust
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents.pipeline import RawMessage
from agents.router_agent import _agent
from schemas.errors import WorkerStop

pytestmark = pytest.mark.integration


class _Handler:
    def __init__(self) -> None:
        self.seen: list[int] = []

    async def handle(self, raw: RawMessage) -> None:
        self.seen.append(raw.offset)
        if raw.value == b"unpublishable":
            raise WorkerStop("publishing to llm.responses failed 5 times, last: KafkaConnectionError")


async def _committed(admin: AIOKafkaAdminClient, group: str, at_least: int) -> int | None:
    """The group's committed offset of partition 0, once it reaches ``at_least`` (None after 30 s)."""
    for _ in range(300):
        offsets = await admin.list_consumer_group_offsets(group)
        found = [o.offset for tp, o in offsets.items() if tp.partition == 0]
        if found and found[0] >= at_least:
            return found[0]
        await asyncio.sleep(0.1)  # polling the broker's state, not waiting for a guess of time
    return None


async def test_worker_stop_leaves_the_record_uncommitted(kafka_bootstrap: str, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:10]
    topic, group = f"it-stop-{tag}", f"it-stop-{tag}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    await producer.start()
    app = faust.App(
        group,
        broker=f"kafka://{kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        datadir=str(tmp_path / "faust"),
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=0.2,
        topic_disable_leader=True,
        stream_wait_empty=False,
        loop=asyncio.get_running_loop(),
    )
    handler, stopped = _Handler(), asyncio.Event()

    async def stop(reason: BaseException) -> None:
        await app.crash(reason)
        stopped.set()

    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
        channel = app.topic(topic, key_serializer="raw", value_serializer="raw")
        app.agent(channel, name="router-normal", concurrency=1)(_agent("router-normal", handler, stop))
        for value in (b"a", b"b", b"c"):
            await producer.send_and_wait(topic, value)
        await app.start()
        assert await _committed(admin, group, at_least=3) == 3  # handled records are acknowledged and committed
        for value in (b"unpublishable", b"d", b"e"):
            await producer.send_and_wait(topic, value)
        await asyncio.wait_for(stopped.wait(), 30)
        await app.stop()
        assert handler.seen == [0, 1, 2, 3]  # nothing consumed after the stop
        assert await _committed(admin, group, at_least=0) == 3  # offset 3 is consumed again by the next member
    finally:
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()

"""`llm-router fetch` (``fetch_response``) reads a request's answer from its reply topic. Since streaming, that
topic also carries the request's chunks, and a chunk's JSON validates as an empty "ok" ChatResponse: a reader
that ignores the ``llm-event: chunk`` header returns a chunk as the answer."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer

from schemas.events import ChatChunk, ChatResponse
from schemas.wire import EventKind, Header, encode
from streams.client import fetch_response
from streams.topics import ensure_topics
from tests.integration.conftest import EnvFactory

pytestmark = pytest.mark.integration


async def test_fetch_returns_the_response_never_a_chunk(make_env: EnvFactory) -> None:
    env = await make_env(backends=[("a", ["gpt-4o-mini"])])
    await ensure_topics(env.config.kafka)
    topic, rid = env.topics.responses, f"fetch-{uuid.uuid4().hex[:8]}"
    chunk = ChatChunk(request_id=rid, tenant="default", index=0, delta="partial")
    producer = AIOKafkaProducer(bootstrap_servers=env.config.kafka.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, encode(chunk), key=rid.encode(), headers=[(Header.EVENT, EventKind.CHUNK)])
        assert await fetch_response(env.config.kafka, topic, rid, timeout_s=2) is None
        answer = ChatResponse(request_id=rid, content="the whole answer")
        await producer.send_and_wait(topic, encode(answer), key=rid.encode())
        await producer.send_and_wait(topic, encode(chunk), key=rid.encode(), headers=[(Header.EVENT, EventKind.CHUNK)])
    finally:
        await producer.stop()
    found = await fetch_response(env.config.kafka, topic, rid, timeout_s=5)
    assert found is not None and found.content == "the whole answer"

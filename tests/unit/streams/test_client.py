"""Client SDK parts that need no broker."""

from __future__ import annotations

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from schemas.events import ChatMessage, ChatRequest
from streams.client import partition_for, request_headers


def test_request_headers_are_accepted_by_the_kafka_client() -> None:
    # aiokafka's C record builder takes header names of type str exactly: a StrEnum member raises TypeError there
    request = ChatRequest(request_id="r-1", messages=[ChatMessage(role="user", content="hi")])
    headers = request_headers(request, [("traceparent", b"00-abc")])
    assert headers == [("request_id", b"r-1"), ("traceparent", b"00-abc")]
    assert all(type(name) is str for name, _ in headers)
    assert DefaultRecordBatchBuilder.estimate_size_in_bytes(key=b"t", value=b"v", headers=headers) > 0


def test_partition_for_matches_the_default_partitioner() -> None:
    from aiokafka.partitioner import murmur2

    for key in (b"abc", b"0123456789abcdef", b"demo-x-00001"):
        assert partition_for(key, {3, 1, 0, 2}) == (murmur2(key) & 0x7FFFFFFF) % 4

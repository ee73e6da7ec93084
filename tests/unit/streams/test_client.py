"""Client SDK parts that need no broker."""

from __future__ import annotations

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from schemas.events import ChatMessage, ChatRequest
from schemas.signing import verify_request
from schemas.wire import Header, TopicNames, decode_request
from streams.client import RouterClient, partition_for, request_headers


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


class _Sent:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]] = []

    async def send_and_wait(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: list[tuple[str, bytes]]
    ) -> None:
        self.records.append((topic, value, key, headers))


def _client(**kw: object) -> tuple[RouterClient, _Sent]:
    client = RouterClient("127.0.0.1:9", topics=TopicNames("t"), **kw)  # type: ignore[arg-type]
    sent = _Sent()
    client._producer = sent  # type: ignore[assignment]
    return client, sent


async def test_a_tenants_client_reads_only_its_own_response_topic() -> None:
    assert RouterClient(topics=TopicNames("t"), tenant="acme").reply_topic == "t.responses.acme"
    assert RouterClient(topics=TopicNames("t")).reply_topic == "t.responses"  # single-tenant: the shared one


async def test_a_key_needs_a_tenant_and_a_tenant_a_valid_id() -> None:
    with pytest.raises(ValueError, match="tenant="):
        RouterClient(key="k" * 32)
    with pytest.raises(ValueError, match="not a tenant id"):
        RouterClient(tenant="a.b")


async def test_a_client_with_a_key_signs_what_it_produces() -> None:
    key = "acme-key-0123456789abcdef0123456789"
    client, sent = _client(tenant="acme", key=f"{key}\n")
    await client.produce(ChatRequest(messages=[ChatMessage(role="user", content="hi")], priority="high"))
    [(topic, value, record_key, headers)] = sent.records
    request = decode_request(value)
    assert (topic, record_key, request.tenant) == ("t.requests.high", request.request_id.encode(), "acme")
    assert verify_request([key.encode()], dict(headers)[Header.SIGNATURE], value)


async def test_a_client_without_a_key_does_not_sign() -> None:
    client, sent = _client()
    await client.produce(ChatRequest(messages=[ChatMessage(role="user", content="hi")]))
    assert Header.SIGNATURE not in dict(sent.records[0][3])


async def test_a_tenants_client_refuses_to_send_for_another_tenant() -> None:
    client, sent = _client(tenant="acme", key="k" * 32)
    with pytest.raises(ValueError, match="cannot send for tenant 'globex'"):
        await client.produce(ChatRequest(tenant="globex", messages=[ChatMessage(role="user", content="hi")]))
    assert sent.records == []

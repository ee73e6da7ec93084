"""Cancels are hostile input like requests: only a cancel the router believes acts, and only on its own tenant's
request; anything else is counted and ignored (no dead letter: every worker reads every cancel)."""

from __future__ import annotations

import asyncio

from agents.cancellation import Cancellations
from agents.ingress import Ingress, IngressPolicy, RawMessage
from infra.signing_keys import Keyring
from schemas.config import KafkaSettings
from schemas.events import CancelRequest
from schemas.signing import sign_request
from schemas.wire import Header, TopicNames, encode
from streams.cancels import CancelListener

TOPICS = TopicNames("t")
ACME = b"acme-signing-key-0123456789abcdef0123"


def _listener(cancels: Cancellations, *, signed: bool) -> CancelListener:
    keys = Keyring(router=(b"router-key-0123456789abcdef0123456789",), tenants={"acme": (ACME,)})
    ingress = Ingress(IngressPolicy(signed=signed, tenant_topics=False), TOPICS, keys)
    return CancelListener(KafkaSettings(), TOPICS.cancels, ingress, cancels)


def _raw(value: bytes, signature: bytes | None = None) -> RawMessage:
    headers = [] if signature is None else [(Header.SIGNATURE, signature)]
    return RawMessage(TOPICS.cancels, 0, 0, None, value, headers)


def test_a_signed_cancel_of_the_tenants_own_request_is_remembered() -> None:
    cancels = Cancellations()
    value = encode(CancelRequest(request_id="r1", tenant="acme"))
    assert _listener(cancels, signed=True).handle(_raw(value, sign_request(ACME, value))) == "remembered"
    assert cancels.cancelled("acme:r1") == "client_disconnected"


def test_an_unsigned_or_forged_cancel_is_refused_in_signed_tenancy() -> None:
    cancels = Cancellations()
    listener = _listener(cancels, signed=True)
    value = encode(CancelRequest(request_id="r1", tenant="acme"))
    assert listener.handle(_raw(value)) == "refused"
    assert listener.handle(_raw(value, sign_request(b"another-key-0123456789abcdef0123", value))) == "refused"
    other = encode(CancelRequest(request_id="r1", tenant="mallory"))  # a tenant without keys
    assert listener.handle(_raw(other, sign_request(ACME, other))) == "refused"
    assert len(cancels) == 0


def test_records_that_are_not_cancels_are_invalid() -> None:
    cancels = Cancellations()
    listener = _listener(cancels, signed=False)
    for value in (b"", b"not json", b"[]", b'{"request_id": "a b c"}', b'{"request_id": "r", "extra": 1}'):
        assert listener.handle(_raw(value)) == "invalid", value
    # a tenant id with ':' would reach into another key's space (tenant:request_id): refused even when trusted
    assert listener.handle(_raw(b'{"request_id": "r", "tenant": "x:y"}')) == "refused"
    assert len(cancels) == 0


async def test_a_believed_cancel_stops_the_work_in_flight() -> None:
    cancels = Cancellations()
    started = asyncio.Event()

    async def serve() -> None:
        async with cancels.cancellable("default:r9"):
            started.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(serve())
    await started.wait()
    value = encode(CancelRequest(request_id="r9"))
    assert _listener(cancels, signed=False).handle(_raw(value)) == "stopped"
    await asyncio.gather(task, return_exceptions=True)
    assert task.done()

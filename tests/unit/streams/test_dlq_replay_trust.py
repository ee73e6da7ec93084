"""Replaying dead letters respects the trust boundary: a forged request is never vouched for, an edited one is
re-signed as its tenant, and it goes back to the class topic it came in on."""

from __future__ import annotations

from typing import Any

from infra.signing_keys import request_signer
from schemas.config import RouterConfig
from schemas.events import ChatMessage, ChatRequest, DeadLetter, DeadLetterReason, Priority
from schemas.signing import verify_request
from schemas.wire import Header, TopicNames, encode
from streams.dlq import _replay_one
from streams.publishers import MemoryPublisher

TOPICS = TopicNames("t")
ACME_KEY = "acme-key-0123456789abcdef0123456789"


def _config() -> RouterConfig:
    return RouterConfig.model_validate(
        {
            "backends": [{"name": "b", "base_url": "http://x", "models": ["m"]}],
            "tenants": {"acme": {"keys": [{"key": ACME_KEY}]}},
        }
    )


def _letter(reason: DeadLetterReason, **kw: Any) -> DeadLetter:
    request = ChatRequest(tenant="acme", priority=Priority.CRITICAL, messages=[ChatMessage(role="user", content="x")])
    return DeadLetter(
        reason=reason,
        error="e",
        original_b64=DeadLetter.b64(encode(request)),
        headers=[(Header.SIGNATURE, DeadLetter.b64(b"v1=" + b"0" * 64))],
        **kw,
    )


async def test_an_unauthenticated_letter_is_not_replayable() -> None:
    pub = MemoryPublisher()
    sign = request_signer(_config())
    outcome = await _replay_one(_letter(DeadLetterReason.UNAUTHENTICATED), TOPICS, None, pub, None, False, sign=sign)  # type: ignore[arg-type]
    assert outcome == "not_replayable" and pub.records == []


async def test_a_replayed_request_is_re_signed_and_goes_back_to_its_class_topic() -> None:
    pub = MemoryPublisher()
    letter = _letter(DeadLetterReason.NO_ROUTE, source_topic=TOPICS.requests("batch"))
    sign = request_signer(_config())
    outcome = await _replay_one(letter, TOPICS, None, pub, "m", False, sign=sign)  # type: ignore[arg-type]
    [record] = pub.records
    assert outcome == "replayed" and record.topic == TOPICS.requests("batch")  # not the body's "critical"
    signatures = [v for k, v in record.headers if k == Header.SIGNATURE]
    assert len(signatures) == 1 and verify_request([ACME_KEY.encode()], signatures[0], record.value)


def test_trusted_producers_need_no_signer() -> None:
    config = _config().model_copy(
        update={"security": _config().security.model_copy(update={"tenancy": "trusted-producers"})}
    )
    assert request_signer(config) is None

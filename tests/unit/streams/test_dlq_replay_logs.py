"""A replayed dead letter is one ``replayed`` outcome line with its ids; a letter not replayed logs none."""

from __future__ import annotations

import logging

import pytest

from infra.log_context import OUTCOME_LOGGER
from schemas.events import ChatMessage, ChatRequest, DeadLetter, DeadLetterReason, Priority
from schemas.wire import TopicNames, encode
from streams.dlq import _replay_one
from streams.publishers import MemoryPublisher

TOPICS = TopicNames("t")


def _letter(reason: DeadLetterReason) -> tuple[ChatRequest, DeadLetter]:
    request = ChatRequest(tenant="acme", priority=Priority.HIGH, messages=[ChatMessage(role="user", content="secret")])
    letter = DeadLetter(
        reason=reason,
        error="e",
        request_id=request.request_id,
        tenant="acme",
        original_b64=DeadLetter.b64(encode(request)),
        source_topic=TOPICS.requests("high"),
    )
    return request, letter


async def test_a_replay_is_one_outcome_line_with_its_ids(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=OUTCOME_LOGGER)
    request, letter = _letter(DeadLetterReason.NO_ROUTE)
    assert await _replay_one(letter, TOPICS, None, MemoryPublisher(), None, False) == "replayed"  # type: ignore[arg-type]
    [record] = [r for r in caplog.records if r.name == OUTCOME_LOGGER]
    fields = {k: getattr(record, k, None) for k in ("outcome", "request_id", "tenant", "dead_letter_id", "topic")}
    assert fields == {
        "outcome": "replayed",
        "request_id": request.request_id,
        "tenant": "acme",
        "dead_letter_id": letter.dead_letter_id,
        "topic": TOPICS.requests("high"),
    }
    assert record.levelno == logging.INFO and getattr(record, "reason", None) == "no_route"
    assert "secret" not in caplog.text


async def test_a_letter_not_replayed_logs_no_outcome(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=OUTCOME_LOGGER)
    _, letter = _letter(DeadLetterReason.UNAUTHENTICATED)
    assert await _replay_one(letter, TOPICS, None, MemoryPublisher(), None, False) == "not_replayable"  # type: ignore[arg-type]
    assert not [r for r in caplog.records if r.name == OUTCOME_LOGGER]

"""``dlq replay`` refuses a dead letter whose original was truncated to fit the record limit (issue 13): the
bytes it would produce are not the request."""

from __future__ import annotations

import logging

import pytest

from schemas.events import ChatMessage, ChatRequest, DeadLetter, DeadLetterReason
from schemas.wire import TopicNames, bounded_dead_letter, encode
from streams.dlq import _replay_one
from streams.publishers import MemoryPublisher

TOPICS = TopicNames("t")


async def test_a_truncated_letter_is_not_replayed_and_the_log_says_why(caplog: pytest.LogCaptureFixture) -> None:
    request = ChatRequest(messages=[ChatMessage(role="user", content="x" * 30_000)], metadata={"k": "v"})
    letter = DeadLetter(reason=DeadLetterReason.NO_ROUTE, error="e", original_b64="")
    letter = bounded_dead_letter(letter, encode(request), limit=10_000)
    pub = MemoryPublisher()
    with caplog.at_level(logging.WARNING, logger="streams.dlq"):
        outcome = await _replay_one(letter, TOPICS, None, pub, "m", False)  # type: ignore[arg-type]
    assert outcome == "truncated" and pub.records == []
    assert letter.dead_letter_id in caplog.text and "truncated" in caplog.text and letter.original_sha256 in caplog.text

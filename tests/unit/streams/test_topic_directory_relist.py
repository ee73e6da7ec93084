"""A worker learns of a new reply topic within about half a second of a miss, not five: the directory re-lists
on a miss once its list is older than :data:`REPLY_TOPIC_RELIST_S`, and never more often (a stream of made-up
names costs one listing per half second). The admin client is a test double: this is the caching policy."""

from __future__ import annotations

from typing import Any

from schemas.config import KafkaSettings
from streams.topics import REPLY_TOPIC_RELIST_S, KafkaTopicDirectory


class _Admin:
    def __init__(self, *existing: str) -> None:
        self.existing = set(existing)
        self.listed = 0

    async def list_topics(self) -> list[str]:
        self.listed += 1
        return sorted(self.existing)

    async def close(self) -> None:
        return None


def _directory(admin: _Admin, now: list[float]) -> KafkaTopicDirectory:
    directory = KafkaTopicDirectory(KafkaSettings(topic_prefix="t"), clock=lambda: now[0])
    directory._admin = admin
    return directory


async def test_a_reply_topic_created_just_after_a_listing_is_known_half_a_second_later() -> None:
    admin, now = _Admin("t.other"), [100.0]
    directory = _directory(admin, now)
    assert await directory.exists("t.other") and admin.listed == 1
    admin.existing.add("t-frontdoor.door-1")  # a door starts 0.1 s after the worker listed
    now[0] += REPLY_TOPIC_RELIST_S + 0.01
    assert await directory.exists("t-frontdoor.door-1") and admin.listed == 2


async def test_misses_cost_at_most_one_listing_per_interval() -> None:
    admin, now = _Admin(), [100.0]
    directory = _directory(admin, now)
    names: list[Any] = [f"made-up-{i}" for i in range(50)]
    for name in names:  # a hostile producer's stream of unknown reply_to names, all within one interval
        assert not await directory.exists(name)
        now[0] += REPLY_TOPIC_RELIST_S / 100
    assert admin.listed == 1
    now[0] += REPLY_TOPIC_RELIST_S
    assert not await directory.exists("made-up-again") and admin.listed == 2

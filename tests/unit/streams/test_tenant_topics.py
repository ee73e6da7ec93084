"""Per-tenant topics: which exist up front, and the directory that creates them on first use."""

from __future__ import annotations

from typing import Any

from aiokafka.errors import TopicAlreadyExistsError

from schemas.config import KafkaSettings, RouterConfig
from streams.topics import KafkaTopicDirectory, tenant_topic_ids, topic_specs


def _config(**security: Any) -> RouterConfig:
    return RouterConfig.model_validate(
        {
            "backends": [{"name": "b", "base_url": "http://x", "models": ["m"]}],
            "tenants": {"globex": {}, "acme": {}},
            "security": security,
        }
    )


def test_configured_tenants_get_their_topics_when_topics_are_per_tenant() -> None:
    assert tenant_topic_ids(_config()) == ["acme", "globex"]  # signed: per-tenant by default
    assert tenant_topic_ids(_config(tenancy="trusted-producers")) == []
    assert tenant_topic_ids(_config(tenancy="trusted-producers", tenant_topics=True)) == ["acme", "globex"]


def test_a_tenants_topics_are_specified_like_the_shared_ones() -> None:
    settings = KafkaSettings(topic_prefix="t", responses_partitions=3, failures_partitions=2)
    specs = {s.name: s for s in topic_specs(settings, tenants=["acme"])}
    assert (specs["t.responses.acme"].partitions, specs["t.failures.acme"].partitions) == (3, 2)
    assert specs["t.responses.acme"].config["retention.ms"] == specs["t.responses"].config["retention.ms"]
    assert not [n for n in topic_specs(settings) if ".acme" in n.name]


class _Admin:
    def __init__(self, *existing: str) -> None:
        self.existing = set(existing)
        self.created: list[str] = []
        self.listed = 0

    async def create_topics(self, topics: list[Any]) -> None:
        for t in topics:
            if t.name in self.existing:
                raise TopicAlreadyExistsError
            self.existing.add(t.name)
            self.created.append(t.name)

    async def list_topics(self) -> list[str]:
        self.listed += 1
        return sorted(self.existing)

    async def close(self) -> None:
        return None


def _directory(admin: _Admin, now: list[float]) -> KafkaTopicDirectory:
    directory = KafkaTopicDirectory(KafkaSettings(topic_prefix="t"), refresh_s=5.0, clock=lambda: now[0])
    directory._admin = admin  # type: ignore[assignment]
    return directory


async def test_a_tenants_topics_are_created_once_on_first_use() -> None:
    admin = _Admin("t.failures.acme")
    directory = _directory(admin, [0.0])
    for _ in range(3):
        await directory.ensure_tenant("acme")
    assert admin.created == ["t.responses.acme"]
    assert await directory.exists("t.responses.acme") and admin.listed == 0


async def test_unknown_topics_cost_one_listing_per_refresh_period() -> None:
    admin, now = _Admin("acme.inbox"), [0.0]
    directory = _directory(admin, now)
    assert await directory.exists("acme.inbox")
    assert not await directory.exists("acme.nowhere-1") and not await directory.exists("acme.nowhere-2")
    assert admin.listed == 1
    admin.existing.add("acme.nowhere-1")
    now[0] = 5.0
    assert await directory.exists("acme.nowhere-1") and admin.listed == 2

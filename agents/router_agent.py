"""Thin Faust agents: one per priority class feeding the pipeline, one per retry tier feeding the
forwarder. Records are raw bytes: decoding is the pipeline's job, so a malformed record becomes a dead
letter instead of a crashed agent. An event is acknowledged (its offset becomes committable) only after
``handle`` returned, i.e. after its outcome was produced and acknowledged by the broker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from agents.pipeline import RawMessage
from schemas.events import PRIORITIES
from schemas.wire import TopicNames, headers_dict

__all__ = ["raw_from_event", "register_retry_agents", "register_router_agents"]


class _Handler(Protocol):
    async def handle(self, raw: RawMessage) -> None: ...


def raw_from_event(event: Any) -> RawMessage:
    """Copy the fields of a Faust event's underlying Kafka message."""
    msg = event.message
    headers = list(headers_dict(msg.headers).items())
    ts = msg.timestamp * 1000 if msg.timestamp else None
    return RawMessage(msg.topic, msg.partition, msg.offset, msg.key, msg.value, headers, ts)


def _agent(name: str, handler: _Handler) -> Callable[[Any], Any]:
    async def agent(stream: Any) -> None:
        async for event in stream.events():
            await handler.handle(raw_from_event(event))

    agent.__name__ = agent.__qualname__ = name.replace("-", "_")
    return agent


def register_router_agents(app: Any, topics: TopicNames, pipeline: _Handler, *, concurrency: int) -> list[Any]:
    """One agent per class topic, ``concurrency`` actors each."""
    agents = []
    for priority in PRIORITIES:
        channel = app.topic(topics.requests(priority), key_serializer="raw", value_serializer="raw")
        name = f"router-{priority.value}"
        agents.append(app.agent(channel, name=name, concurrency=concurrency)(_agent(name, pipeline)))
    return agents


def register_retry_agents(app: Any, topics: TopicNames, tiers_s: list[float], forwarder: _Handler) -> list[Any]:
    """One agent per retry tier; one actor each so records leave a partition in order."""
    agents = []
    for tier in tiers_s:
        channel = app.topic(topics.retry(tier), key_serializer="raw", value_serializer="raw")
        name = f"retry-{tier:g}s"
        agents.append(app.agent(channel, name=name, concurrency=1)(_agent(name, forwarder)))
    return agents

"""Thin Faust agents: one per priority class, each feeding raw records to the shared pipeline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from agents.pipeline import Pipeline, RawMessage
from schemas.events import PRIORITIES, Priority
from streams.codecs import headers_dict
from streams.topics import TopicNames

__all__ = ["raw_from_event", "register_router_agents"]


def raw_from_event(event: Any) -> RawMessage:
    """Copy the fields of a Faust event's underlying Kafka message."""
    msg = event.message
    headers = list(headers_dict(msg.headers).items())
    ts = msg.timestamp * 1000 if msg.timestamp else None
    return RawMessage(msg.topic, msg.partition, msg.offset, msg.key, msg.value, headers, ts)


def register_router_agents(
    app: Any, topics: TopicNames, pipeline: Callable[[], Awaitable[Pipeline]], *, concurrency: int
) -> list[Any]:
    """Declare one agent per class topic. The records are raw bytes: decoding is the pipeline's job, so a
    malformed record becomes a dead letter instead of a crashed agent. An event is acknowledged (and its
    offset becomes committable) only when ``handle`` returned, i.e. after its outcome was produced."""
    agents = []
    for priority in PRIORITIES:
        channel = app.topic(topics.requests(priority), key_serializer="raw", value_serializer="raw")
        agents.append(
            app.agent(channel, name=f"router-{priority.value}", concurrency=concurrency)(
                _make_agent(priority, pipeline)
            )
        )
    return agents


def _make_agent(priority: Priority, pipeline: Callable[[], Awaitable[Pipeline]]) -> Callable[[Any], Any]:
    async def route_requests(stream: Any) -> None:
        handler = await pipeline()
        async for event in stream.events():
            await handler.handle(raw_from_event(event))

    route_requests.__name__ = f"route_{priority.value}"
    route_requests.__qualname__ = route_requests.__name__
    return route_requests

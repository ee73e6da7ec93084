"""The workers' Prometheus ``/metrics``, scraped over HTTP and parsed into flat samples (the console reads what
every worker already exports; it needs no endpoint of its own on them)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Sample", "WorkerScrape", "parse_metrics", "scrape_all"]


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass
class WorkerScrape:
    url: str
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None

    def named(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.name == name]


def parse_metrics(text: str) -> list[Sample]:
    """Every sample of a text exposition (``_created`` timestamps dropped: they are not values)."""
    return [
        Sample(s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    ]


async def _scrape(http: httpx.AsyncClient, url: str) -> WorkerScrape:
    try:
        reply = await http.get(url)
        reply.raise_for_status()
        return WorkerScrape(url, parse_metrics(reply.text))
    except (httpx.HTTPError, ValueError) as exc:
        return WorkerScrape(url, error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


async def scrape_all(http: httpx.AsyncClient, urls: list[str]) -> list[WorkerScrape]:
    """Every worker at once; one that is down is a scrape with an error, not an exception."""
    return list(await asyncio.gather(*(_scrape(http, url) for url in urls)))

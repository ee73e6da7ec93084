"""The console's dead-letter panel: filters from the page, rows for it, and replay through the very function
``llm-router dlq replay`` calls (:func:`streams.dlq.replay_dead_letters`), with the same guard against an
unfiltered replay of the whole topic."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.config import RouterConfig
from schemas.errors import ConfigError
from schemas.events import DeadLetter, DeadLetterReason
from schemas.wire import TopicNames
from streams.commands.dlq import replay_guard
from streams.dlq import (
    DeadLetterFilter,
    end_offsets,
    parse_when,
    read_dead_letters,
    recurrence_warnings,
    replay_dead_letters,
)

__all__ = ["LetterCache", "ReplayAsk", "filter_from_query", "letter_row", "newest", "replay"]

_REASONS = {r.value for r in DeadLetterReason}


def _blank(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def filter_from_query(params: dict[str, Any], *, now: datetime | None = None) -> DeadLetterFilter:
    """``reason`` (comma-separated), ``tenant``, ``model``, ``since``, ``until`` (ISO time or an age: 2h)."""
    reasons = {r.strip() for r in str(params.get("reason") or "").split(",") if r.strip()}
    unknown = sorted(reasons - _REASONS)
    if unknown:
        raise ConfigError(f"unknown reason {', '.join(unknown)}: use one of {', '.join(sorted(_REASONS))}")
    return DeadLetterFilter(
        reasons=reasons,
        tenant=_blank(params.get("tenant")),
        model=_blank(params.get("model")),
        since=parse_when(_blank(params.get("since")), now=now),
        until=parse_when(_blank(params.get("until")), now=now),
    )


def letter_row(letter: DeadLetter) -> dict[str, object]:
    return {
        "at": letter.at.isoformat(),
        "dead_letter_id": letter.dead_letter_id,
        "reason": letter.reason.value,
        "request_id": letter.request_id,
        "tenant": letter.tenant,
        "model": letter.model,
        "error": " ".join(letter.error.split())[:200],
        "attempts": len(letter.attempts),
    }


def newest(letters: list[DeadLetter], limit: int) -> list[DeadLetter]:
    return sorted(letters, key=lambda x: x.at, reverse=True)[:limit]


class LetterCache:
    """The dead-letter topic read once, then only what was added since (a page asks every few seconds, and the
    topic can be long). Letters are kept by id: a record read twice (it arrived during a read) counts once."""

    def __init__(self, config: RouterConfig) -> None:
        self._kafka = config.kafka
        self._topic = TopicNames(config.kafka.topic_prefix).deadletter
        self._letters: dict[str, DeadLetter] = {}
        self._offsets: dict[int, int] | None = None
        self._lock = asyncio.Lock()

    async def matching(self, flt: DeadLetterFilter) -> list[DeadLetter]:
        async with self._lock:  # one reader at a time: concurrent pages share the read
            ends = await end_offsets(self._kafka, self._topic)
            async for letter in read_dead_letters(self._kafka, self._topic, since_offsets=self._offsets):
                self._letters[letter.dead_letter_id] = letter
            self._offsets = ends
        return [x for x in self._letters.values() if flt.matches(x)]


@dataclass(frozen=True)
class ReplayAsk:
    """A replay as the page asks for it: a dry run unless ``dry_run`` is false."""

    flt: DeadLetterFilter
    to_model: str | None = None
    dry_run: bool = True
    all_: bool = False

    @classmethod
    def from_json(cls, data: object) -> ReplayAsk:
        if not isinstance(data, dict):
            raise ConfigError("a replay is a JSON object: {filter, to_model, dry_run, all}")
        return cls(
            flt=filter_from_query(data.get("filter") or {}),
            to_model=_blank(data.get("to_model")),
            dry_run=data.get("dry_run", True) is not False,
            all_=data.get("all") is True,
        )

    def check(self) -> None:
        """The CLI's guard: no filter and no ``all`` is refused (a page has no terminal to confirm on)."""
        replay_guard(self.flt, all_=self.all_, dry_run=self.dry_run, interactive=False)


async def replay(config: RouterConfig, ask: ReplayAsk) -> dict[str, object]:
    """Run the replay (or its dry run) and report it as the CLI does, warnings included."""
    ask.check()
    report = await replay_dead_letters(config, ask.flt, to_model=ask.to_model, dry_run=ask.dry_run)
    warnings = recurrence_warnings(report.by_reason, to_model=ask.to_model, keep_deadline=False) if ask.dry_run else []
    return {
        "dry_run": report.dry_run,
        "matched": report.matched,
        "replayed": report.replayed,
        "already_replayed": report.already_replayed,
        "not_replayable": report.not_replayable,
        "warnings": warnings,
        "items": [{"dead_letter_id": d, "request_id": r, "outcome": o} for d, r, o in report.items],
    }

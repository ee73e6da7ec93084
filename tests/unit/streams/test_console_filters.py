"""The console's dead-letter filters and replay requests, parsed from the page's query and JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.errors import ConfigError
from schemas.events import DeadLetter, DeadLetterReason
from streams.console.dlq_view import ReplayAsk, filter_from_query, letter_row, newest

NOW = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


def test_filters_from_the_query_with_blank_fields_ignored() -> None:
    flt = filter_from_query(
        {"reason": "no_route,retries_exhausted", "tenant": "acme", "model": "", "since": "2h", "until": ""}, now=NOW
    )
    assert flt.reasons == {"no_route", "retries_exhausted"} and flt.tenant == "acme" and flt.model is None
    assert flt.since == datetime(2026, 11, 25, 23, 0, tzinfo=UTC) and flt.until is None
    assert filter_from_query({}).is_empty


def test_an_unknown_reason_or_time_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="reason"):
        filter_from_query({"reason": "bogus"})
    with pytest.raises(ConfigError, match="not a time"):
        filter_from_query({"since": "yesterday"})


def test_a_replay_ask_from_json_needs_a_filter_or_all() -> None:
    ask = ReplayAsk.from_json({"filter": {"reason": "no_route"}, "to_model": " gpt-4o ", "dry_run": False})
    assert ask.flt.reasons == {"no_route"} and ask.to_model == "gpt-4o" and not ask.dry_run
    assert ReplayAsk.from_json({}).dry_run  # a dry run unless said otherwise
    with pytest.raises(ConfigError, match="--all"):
        ReplayAsk.from_json({"dry_run": False}).check()
    ReplayAsk.from_json({"dry_run": False, "all": True}).check()
    with pytest.raises(ConfigError, match="JSON object"):
        ReplayAsk.from_json([1])


def test_a_letter_row_and_the_newest_first() -> None:
    old = DeadLetter(
        reason=DeadLetterReason.NO_ROUTE, error="no  backend\nserves it", model="m", at=NOW, original_b64=""
    )
    new = DeadLetter(reason=DeadLetterReason.NO_ROUTE, error="x", at=NOW.replace(hour=2), original_b64="")
    row = letter_row(old)
    assert row["reason"] == "no_route" and row["error"] == "no backend serves it" and row["model"] == "m"
    assert row["at"] == "2026-11-26T01:00:00+00:00"
    assert [x.dead_letter_id for x in newest([old, new], 1)] == [new.dead_letter_id]

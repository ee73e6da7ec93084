"""Dead-letter tools: ``dlq list`` and ``dlq replay``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from schemas.errors import ConfigError
from streams.commands import add_command, config_of

if TYPE_CHECKING:
    from schemas.events import DeadLetter
    from streams.commands import Subparsers
    from streams.dlq import DeadLetterFilter, ReplayReport
    from streams.progress import Progress

__all__ = ["list_rows", "register", "replay_guard"]

LIST_COLUMNS = ["at", "dead_letter_id", "reason", "request_id", "tenant", "model", "error"]


def _filter(args: argparse.Namespace) -> DeadLetterFilter:
    from streams.dlq import DeadLetterFilter, parse_when

    return DeadLetterFilter(
        reasons=set(args.reason or []),
        model=args.model,
        tenant=args.tenant,
        since=parse_when(args.since),
        until=parse_when(args.until),
    )


def list_rows(letters: Iterable[DeadLetter]) -> list[list[object]]:
    """Table rows, oldest first (partitions interleave in time, so the read order is not the time order)."""
    return [
        [
            letter.at.strftime("%Y-%m-%d %H:%M:%S"),
            letter.dead_letter_id,
            letter.reason.value,
            letter.request_id or "-",
            letter.tenant or "-",
            letter.model or "-",
            " ".join(letter.error.split())[:60],
        ]
        for letter in sorted(letters, key=lambda x: x.at)
    ]


async def _matching(args: argparse.Namespace) -> list[DeadLetter]:
    from schemas.wire import TopicNames
    from streams.dlq import read_dead_letters

    config = config_of(args)
    flt = _filter(args)
    topic = TopicNames(config.kafka.topic_prefix).deadletter
    return [x async for x in read_dead_letters(config.kafka, topic) if flt.matches(x)]


def _dlq_list(args: argparse.Namespace) -> int:
    from streams.report import print_table

    letters = sorted(asyncio.run(_matching(args)), key=lambda x: x.at)
    if args.json:
        for letter in letters:
            print(letter.model_dump_json())
        return 0
    shown = letters[-args.limit :] if args.limit > 0 else []
    print_table(LIST_COLUMNS, list_rows(shown))
    more = f" (showing the last {len(shown)}; --limit to see more)" if len(letters) > len(shown) else ""
    print(f"{len(letters)} dead letters match{more}")
    return 0


def replay_guard(
    flt: DeadLetterFilter, *, all_: bool, dry_run: bool, interactive: bool, ask: Callable[[str], str] = input
) -> Callable[[int], bool] | None:
    """What stands between an unfiltered replay and the whole topic being re-driven.

    A filter, ``--all`` or a dry run need nothing; a terminal gets a confirmation question (once the letters are
    counted); anything else (a script, CI) is refused, so a forgotten ``--reason`` never replays everything.
    """
    if dry_run or all_ or not flt.is_empty:
        return None
    if not interactive:
        raise ConfigError(
            "no filter given: this would replay every dead letter; pass --all, or narrow it with "
            "--reason / --model / --tenant / --since / --until"
        )
    return lambda n: ask(f"replay all {n} dead letters? [y/N] ").strip().lower() in ("y", "yes")


def _dlq_replay(args: argparse.Namespace) -> int:
    from streams.dlq import replay_dead_letters
    from streams.progress import Progress

    flt = _filter(args)
    confirm = replay_guard(flt, all_=args.all, dry_run=args.dry_run, interactive=sys.stdin.isatty())
    bar: Progress | None = None

    def progress(done: int, total: int, outcome: str) -> None:
        nonlocal bar
        if bar is None:
            bar = Progress(total, "dry run" if args.dry_run else "replaying")
        bar.advance(note=outcome)

    opts = {"to_model": args.to_model, "dry_run": args.dry_run, "keep_deadline": args.keep_deadline}
    report = asyncio.run(
        replay_dead_letters(
            config_of(args),
            flt,
            dedupe=not args.no_dedupe,
            limit=args.max,
            on_progress=progress,
            confirm=confirm,
            **opts,
        )
    )
    if bar is not None:
        bar.finish()
    return _print_report(report, args)


def _print_report(report: ReplayReport, args: argparse.Namespace) -> int:
    from streams.dlq import recurrence_warnings

    if report.cancelled:
        print("cancelled: nothing replayed", file=sys.stderr)
        return 1
    verb = "would replay" if report.dry_run else "replayed"
    print(
        f"matched {report.matched}: {verb} {report.replayed}, already replayed {report.already_replayed}, "
        f"not replayable (invalid original) {report.not_replayable}"
    )
    if report.dry_run:
        for line in recurrence_warnings(report.by_reason, to_model=args.to_model, keep_deadline=args.keep_deadline):
            print(f"warning: {line}", file=sys.stderr)
    if args.verbose_items:
        for dlid, rid, outcome in report.items:
            print(f"{dlid}  {rid}  {outcome}")
    return 0


def _filters(parents: list[argparse.ArgumentParser]) -> list[argparse.ArgumentParser]:
    from schemas.events import DeadLetterReason

    p = argparse.ArgumentParser(add_help=False)
    f = p.add_argument_group("filters (a letter must match every one given)")
    reasons = [r.value for r in DeadLetterReason]
    f.add_argument(
        "--reason", action="append", choices=reasons, metavar="REASON", help="repeatable; one of: " + ", ".join(reasons)
    )
    f.add_argument("--model", help="the model (or route) the request asked for")
    f.add_argument("--tenant", help="the request's tenant")
    f.add_argument("--since", help="dead-lettered at or after: ISO time (UTC if no zone) or an age (30m, 2h, 7d)")
    f.add_argument("--until", help="dead-lettered at or before: ISO time or an age")
    return [*parents, p]


def register(sub: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    group = add_command(sub, "dlq", "dead-letter topic tools", parents)
    dlq = group.add_subparsers(dest="dlq_command", required=True, metavar="{list,replay}")
    with_filters = _filters(parents)

    q = add_command(dlq, "list", "list dead letters, oldest first", with_filters, _dlq_list)
    q.add_argument("--limit", type=int, default=50, help="rows shown, the newest (default: %(default)s)")
    q.add_argument("--json", action="store_true", help="every matching dead letter, one JSON object per line")

    r = add_command(
        dlq, "replay", "re-drive dead letters to their class topics (idempotent)", with_filters, _dlq_replay
    )
    r.add_argument("--all", action="store_true", help="replay every dead letter when no filter is given")
    r.add_argument("--to-model", help="send them to this model instead (clears any named route)")
    r.add_argument("--dry-run", action="store_true", help="count what would be replayed and warn what would fail again")
    r.add_argument("--max", type=int, default=None, help="replay at most this many")
    r.add_argument("--keep-deadline", action="store_true", help="keep the original deadline (default: cleared)")
    r.add_argument("--no-dedupe", action="store_true", help="replay even without Redis (no idempotence)")
    r.add_argument("--list", dest="verbose_items", action="store_true", help="print every letter's outcome")

"""The ``llm-router`` and ``python -m benchmarks`` parsers, and the pure parts of the commands."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from benchmarks.__main__ import build_parser as build_bench_parser
from schemas.errors import ConfigError, MessageError
from schemas.events import CachePolicy, ChatResponse, DeadLetter, DeadLetterReason, Latency, utcnow
from streams.cli import build_parser, main
from streams.commands import config_of
from streams.commands.dlq import list_rows, replay_guard
from streams.commands.send import build_request, describe
from streams.demo import DemoOptions
from streams.dlq import DeadLetterFilter, recurrence_warnings


def _parsers(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _parsers(sub, f"{path} {name}")
    return found


@pytest.mark.parametrize("root", [build_parser, build_bench_parser], ids=["llm-router", "benchmarks"])
def test_every_option_and_subcommand_has_help(root: object) -> None:
    missing = []
    for path, parser in _parsers(root(), "$"):  # type: ignore[operator]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{path} {c.dest}" for c in action._choices_actions if not c.help]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("llm-router ") and out.strip() != "llm-router"


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "c.yaml", "--log-level", "DEBUG", "-v", "dlq", "list"],
        ["dlq", "list", "--config", "c.yaml", "--log-level", "debug", "-v"],
        ["dlq", "--config", "c.yaml", "list", "--loglevel", "debug", "--verbose"],
        ["--config", "other.yaml", "dlq", "list", "--config", "c.yaml", "--log-level", "debug", "-v"],
    ],
)
def test_global_options_before_or_after_the_subcommand(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.config, args.log_level, args.verbose) == ("c.yaml", "debug", True)


def test_global_options_default_when_not_given() -> None:
    args = build_parser().parse_args(["send", "hi"])
    assert (args.config, args.log_level, args.verbose) == (None, None, False)


def test_the_product_cli_does_not_import_benchmarks() -> None:
    code = (
        "import sys, streams.cli; streams.cli.build_parser(); "
        "print(sorted(m for m in sys.modules if m.startswith('benchmarks')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "outage"])


def test_benchmarks_have_their_own_entry_point_with_every_benchmark() -> None:
    parser = build_bench_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == {
        "outage",
        "cache",
        "priority",
        "overhead",
        "cost",
        "chaos",
        "frontdoor",
        "service",
        "attribution",
        "floor",
    }
    args = parser.parse_args(["priority", "--capacity", "8", "--schedulers", "fair", "--adaptive-critical"])
    assert (args.capacity, args.schedulers, args.adaptive_critical) == (8, "fair", True)
    assert parser.parse_args(["outage"]).rate == 100.0


def test_send_builds_the_request_from_every_option() -> None:
    argv = ["send", "hi", "--system", "be brief", "--cache", "refresh", "--temperature", "0.3"]
    argv += ["--route", "code", "--deadline", "30", "--priority", "high", "--tenant", "acme", "--max-tokens", "9"]
    before = utcnow()
    request = build_request(build_parser().parse_args(argv))
    after = utcnow()
    assert [(m.role, m.content) for m in request.messages] == [("system", "be brief"), ("user", "hi")]
    assert request.cache is CachePolicy.REFRESH and request.temperature == 0.3 and request.route == "code"
    assert (request.priority.value, request.tenant, request.max_tokens) == ("high", "acme", 9)
    assert request.deadline is not None
    assert before + timedelta(seconds=30) <= request.deadline <= after + timedelta(seconds=30)


def test_send_defaults() -> None:
    request = build_request(build_parser().parse_args(["send", "hi"]))
    assert request.cache is CachePolicy.USE and request.deadline is None and request.temperature is None
    assert [m.role for m in request.messages] == ["user"]


@pytest.mark.parametrize(
    "argv",
    [["--temperature", "3"], ["--deadline", "0"], ["--deadline", "-5"], ["--cache", "sometimes"], ["--timeout", "0"]],
)
def test_send_rejects_bad_values_in_the_parser(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["send", "hi", *argv])
    assert exc.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_send_reports_an_invalid_request_in_one_line() -> None:
    with pytest.raises(MessageError, match=r"invalid request: tenant"):
        build_request(build_parser().parse_args(["send", "hi", "--tenant", "no spaces allowed here"]))


def _response(**kw: object) -> ChatResponse:
    base: dict[str, object] = {"request_id": "r1", "model": "gpt-4o-mini", "backend": "b1", "content": "hello"}
    return ChatResponse.model_validate({**base, "latency": Latency(total_ms=12.0), **kw})


def test_describe_says_plainly_where_an_answer_came_from() -> None:
    exact = describe(_response(cache_hit="exact", similarity=1.0))
    semantic = describe(_response(cache_hit="semantic", similarity=0.8734))
    provider = describe(_response())
    assert "from the cache (exact match)" in exact and "no provider call" in exact
    assert "from the cache (semantic match, similarity 0.873)" in semantic
    assert "cache" not in provider and "b1/gpt-4o-mini" in provider and "attempt" in provider


def test_get_takes_a_request_id_and_a_bounded_wait() -> None:
    args = build_parser().parse_args(["get", "abc123", "--timeout", "2.5", "--json"])
    assert (args.request_id, args.timeout, args.json) == ("abc123", 2.5, True)
    assert build_parser().parse_args(["get", "abc123"]).timeout == 10.0


def test_dlq_rejects_unknown_reasons_and_lists_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["dlq", "replay", "--reason", "unhappy"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unhappy" in err and all(r.value in err for r in DeadLetterReason)
    args = build_parser().parse_args(["dlq", "replay", "--reason", "no_route", "--reason", "retries_exhausted"])
    assert args.reason == ["no_route", "retries_exhausted"]


def test_replay_without_a_filter_needs_all_or_a_confirmation() -> None:
    empty, filtered = DeadLetterFilter(), DeadLetterFilter(reasons={"no_route"})
    with pytest.raises(ConfigError, match="--all"):
        replay_guard(empty, all_=False, dry_run=False, interactive=False)
    assert replay_guard(empty, all_=True, dry_run=False, interactive=False) is None
    assert replay_guard(empty, all_=False, dry_run=True, interactive=False) is None
    assert replay_guard(filtered, all_=False, dry_run=False, interactive=False) is None
    asked: list[str] = []
    answers = iter(["y", "", "No"])

    def ask(question: str) -> str:
        asked.append(question)
        return next(answers)

    confirm = replay_guard(empty, all_=False, dry_run=False, interactive=True, ask=ask)
    assert confirm is not None
    assert [confirm(7), confirm(7), confirm(7)] == [True, False, False]
    assert asked[0] == "replay all 7 dead letters? [y/N] "


def test_replay_without_a_filter_from_a_script_exits_2_before_touching_kafka(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.setenv("LLM_ROUTER_KAFKA_BOOTSTRAP", "127.0.0.1:1")  # would fail differently if it were contacted
    assert main(["dlq", "replay"]) == 2
    err = capsys.readouterr().err
    assert "no filter given" in err and "--all" in err and "Kafka" not in err


def test_dry_run_warns_about_reasons_that_would_recur() -> None:
    by_reason = Counter({"no_route": 3, "invalid_message": 1, "deadline_expired": 2, "retries_exhausted": 5})
    plain = recurrence_warnings(by_reason, to_model=None, keep_deadline=False)
    assert [w.split()[:2] for w in plain] == [["1", "invalid_message"], ["3", "no_route"]]
    assert "--to-model" in plain[1]
    rerouted = recurrence_warnings(by_reason, to_model="gpt-4o", keep_deadline=True)
    assert [w.split()[:2] for w in rerouted] == [["1", "invalid_message"], ["2", "deadline_expired"]]
    assert recurrence_warnings(Counter({"retries_exhausted": 4}), to_model=None, keep_deadline=True) == []


def _letter(dlid: str, minutes_ago: int, error: str = "boom") -> DeadLetter:
    at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC) - timedelta(minutes=minutes_ago)
    return DeadLetter(dead_letter_id=dlid, reason=DeadLetterReason.NO_ROUTE, error=error, original_b64="", at=at)


def test_dlq_list_rows_are_sorted_by_time_and_show_the_dead_letter_id() -> None:
    rows = list_rows([_letter("b", 5), _letter("c", 1), _letter("a", 30, error="multi\nline   error")])
    assert [r[1] for r in rows] == ["a", "b", "c"]
    assert rows[0][0] == "2026-01-01 11:30:00" and rows[0][2] == "no_route" and rows[0][-1] == "multi line error"


def test_the_default_config_and_state_dir_do_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLM_ROUTER_CONFIG", raising=False)
    monkeypatch.delenv("LLM_ROUTER_STATE_DIR", raising=False)
    config = config_of(build_parser().parse_args(["send", "hi"]))
    assert config.backends
    state = DemoOptions().state_dir
    assert state.is_absolute() and tmp_path not in (state, *state.parents)

import io
import math

from streams.progress import Progress
from streams.report import percentile, print_table, table


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([5.0], 99) == 5.0
    assert math.isnan(percentile([], 50))


def test_table_aligns_numbers_right() -> None:
    out = table(["name", "n"], [["a", 1], ["bbb", 100]]).splitlines()
    assert out[0].startswith("name")
    assert out[2].endswith("  1") and out[3].endswith("100")


def test_plain_table_has_stable_columns_and_no_markup_or_ansi() -> None:
    rows = [["x [bold]y[/bold]", 1.5, float("nan")], ["z", 12345.678, 2.0]]
    out = table(["label", "a", "b"], rows).splitlines()
    assert out == [
        "label                     a       b",
        "----------------- ---------- ------",
        "x [bold]y[/bold]      1.500       -",
        "z                  12,345.7   2.000",
    ]
    wide = table(["c"] * 30, [["a long cell value"] * 30])  # wider than any terminal: never wrapped
    assert len(wide.splitlines()) == 3 and "\x1b" not in wide


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_print_table_colours_only_a_terminal() -> None:
    pipe, terminal = _Stream(tty=False), _Stream(tty=True)
    print_table(["name", "n"], [["a", 1]], stream=pipe)
    print_table(["name", "n"], [["a", 1]], stream=terminal)
    assert pipe.getvalue() == table(["name", "n"], [["a", 1]]) + "\n"
    assert "\x1b[" not in pipe.getvalue()
    assert "\x1b[" in terminal.getvalue() and "name" in terminal.getvalue()


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_off_a_terminal_prints_a_plain_line_per_tenth_with_rate_and_eta() -> None:
    stream, clock = _Stream(tty=False), _Clock()
    bar = Progress(20, "replaying", stream=stream, clock=clock)
    for _ in range(4):
        clock.now += 0.5
        bar.advance(note="replayed")
    bar.finish()
    bar.finish()  # idempotent
    lines = stream.getvalue().splitlines()
    assert lines == [
        "replaying: 1/20 (5%), 2.0/s, ETA 10s, replayed",
        "replaying: 2/20 (10%), 2.0/s, ETA 9s, replayed",
        "replaying: 4/20 (20%), 2.0/s, ETA 8s, replayed",
        "replaying: 4/20 (20%), 2.0/s, 2.0s, replayed",
    ]
    assert bar.rate() == 2.0 and bar.eta_s() == 8.0


def test_progress_on_a_terminal_draws_a_live_bar() -> None:
    stream, clock = _Stream(tty=True), _Clock()
    with Progress(3, "dry run", stream=stream, clock=clock) as bar:
        for _ in range(3):
            clock.now += 1.0
            bar.advance(note="would_replay")
    out = stream.getvalue()
    assert "dry run" in out and "3/3" in out and "\x1b[" in out


def test_degradation_counts_everything_and_logs_rarely(caplog: object) -> None:
    import logging

    from infra.degraded import Degradation

    log = logging.getLogger("test.degraded")
    d = Degradation(log, "thing down", every_s=3600)
    with caplog.at_level(logging.WARNING, logger="test.degraded"):  # type: ignore[attr-defined]
        for i in range(5):
            d.report(OSError(f"boom {i}"), "lookup")
    assert d.count == 5 and d.last_error == "lookup: boom 4"
    assert [r.getMessage() for r in caplog.records] == ["thing down (lookup: boom 0)"]  # type: ignore[attr-defined]

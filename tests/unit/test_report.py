import math

from streams.report import percentile, table


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

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

import numpy as np
import pytest

from infra.cache.index import VectorIndex


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _unit(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_search_finds_the_same_vector_with_similarity_one() -> None:
    rng = np.random.default_rng(1)
    vecs = _unit(rng, 50)
    idx = VectorIndex(16, clock=Clock())
    for i, v in enumerate(vecs):
        assert idx.add(f"e{i}", "p", v, expires_at=1e12)
    assert not idx.add("e0", "p", vecs[0], expires_at=1e12)  # ids are unique
    for i in (0, 17, 49):
        (top, sim), *_ = idx.search("p", vecs[i], 3)
        assert top == f"e{i}" and sim == pytest.approx(1.0, abs=1e-5)


def test_partitions_are_isolated() -> None:
    v = _unit(np.random.default_rng(2), 1)[0]
    idx = VectorIndex(16)
    idx.add("a", "tenant-a", v, 1e12)
    assert idx.search("tenant-b", v, 5) == []
    assert [e for e, _ in idx.search("tenant-a", v, 5)] == ["a"]


def test_removed_and_expired_entries_are_never_returned() -> None:
    clock = Clock()
    vecs = _unit(np.random.default_rng(3), 3)
    idx = VectorIndex(16, clock=clock)
    idx.add("keep", "p", vecs[0], 1e12)
    idx.add("gone", "p", vecs[1], 1e12)
    idx.add("old", "p", vecs[2], clock.now + 10)
    assert idx.remove("gone") and not idx.remove("gone")
    assert "gone" not in [e for e, _ in idx.search("p", vecs[1], 3)]
    clock.now += 11
    assert "old" not in [e for e, _ in idx.search("p", vecs[2], 3)]
    assert len(idx) == 1 and idx.expired == 1


def test_capacity_evicts_oldest_and_reuses_slots() -> None:
    vecs = _unit(np.random.default_rng(4), 40)
    idx = VectorIndex(16, max_entries=10)
    for i, v in enumerate(vecs):
        idx.add(f"e{i}", "p", v, 1e12)
    assert len(idx) == 10 and idx.evicted == 30
    assert "e0" not in idx and "e39" in idx
    assert idx.search("p", vecs[39], 1)[0][0] == "e39"


def test_grows_past_its_initial_size() -> None:
    vecs = _unit(np.random.default_rng(5), 3000, dim=8)
    idx = VectorIndex(8, max_entries=10_000)
    for i, v in enumerate(vecs):
        idx.add(str(i), "p", v, 1e12)
    assert len(idx) == 3000
    assert idx.search("p", vecs[2999], 1)[0][0] == "2999"


def test_sweep_drops_expired() -> None:
    clock = Clock()
    idx = VectorIndex(16, clock=clock)
    for i, v in enumerate(_unit(np.random.default_rng(6), 5)):
        idx.add(str(i), "p", v, clock.now + i)
    clock.now += 2.5
    assert idx.sweep() == 3 and len(idx) == 2


# --- issue 12, finding 8: bounded memory ------------------------------------------------------------------------
def test_parameters_filter_candidates_inside_one_partition() -> None:
    vecs = _unit(np.random.default_rng(7), 2)
    idx = VectorIndex(16)
    idx.add("short", "p", vecs[0], 1e12, params="max_tokens=10")
    idx.add("long", "p", vecs[1], 1e12, params="max_tokens=500")
    assert idx.partitions == 1
    assert [e for e, _ in idx.search("p", vecs[0], 5, params="max_tokens=500")] == ["long"]  # the closer one is not
    assert [e for e, _ in idx.search("p", vecs[0], 5, params="max_tokens=10")] == ["short"]
    assert idx.search("p", vecs[0], 5, params="temperature=0") == []


@pytest.mark.parametrize("flat_max", [4, 10_000])  # searched by hnswlib / exactly
def test_a_large_partition_filters_by_parameters_too(flat_max: int) -> None:
    vecs = _unit(np.random.default_rng(8), 600)
    idx = VectorIndex(16, flat_max=flat_max)
    for i, v in enumerate(vecs):
        idx.add(f"e{i}", "p", v, 1e12, params=f"g{i % 200}")  # 3 entries per parameter group
    for i in range(0, 600, 37):
        found = idx.search("p", vecs[i], 5, params=f"g{i % 200}")
        assert found[0][0] == f"e{i}" and {int(e[1:]) % 200 for e, _ in found} == {i % 200}


def test_partitions_are_capped_least_recently_used_first() -> None:
    vecs = _unit(np.random.default_rng(9), 4)
    idx = VectorIndex(16, max_partitions=3)
    for i, v in enumerate(vecs[:3]):
        idx.add(f"e{i}", f"p{i}", v, 1e12)
    assert idx.search("p0", vecs[0], 1)  # p0 is used again: p1 is now the least recently used
    idx.add("e3", "p3", vecs[3], 1e12)
    assert idx.partitions == 3 and idx.partitions_evicted == 1
    assert "e1" not in idx and idx.search("p1", vecs[1], 1) == []
    assert {"e0", "e2", "e3"} <= {e for e in ("e0", "e1", "e2", "e3") if e in idx} and len(idx) == 3


def test_empty_partitions_are_freed() -> None:
    clock = Clock()
    vecs = _unit(np.random.default_rng(10), 3)
    idx = VectorIndex(16, clock=clock)
    idx.add("a", "p", vecs[0], 1e12)
    idx.add("b", "p", vecs[1], 1e12)
    idx.add("c", "q", vecs[2], clock.now + 1)
    assert idx.partitions == 2
    idx.remove("a")
    idx.remove("b")
    assert idx.partitions == 1
    clock.now += 2
    assert idx.sweep() == 1 and idx.partitions == 0 and len(idx) == 0


def test_churn_in_a_large_partition_keeps_every_entry_findable() -> None:
    rng = np.random.default_rng(11)
    vecs = _unit(rng, 400)
    idx = VectorIndex(16, flat_max=8)
    live: dict[str, int] = {}
    for step in range(1200):
        slot = int(rng.integers(0, 60))
        key = f"k{slot}"
        if key in live and rng.random() < 0.5:
            assert idx.remove(key)
            del live[key]
        elif key not in live:
            live[key] = step % 400
            assert idx.add(key, "p", vecs[step % 400], 1e12)
    for key, row in live.items():
        assert idx.search("p", vecs[row], 1)[0][0] == key
    assert len(idx) == len(live)

"""Bounded vector index, partitioned by tenant scope and model, with entry expiry, deletion and oldest-first
eviction. Similarity is cosine (inner product of unit vectors).

Memory is bounded whatever producers send (issue 12, finding 8): generation parameters (system prompt,
max_tokens, temperature) do not open partitions of their own; each entry carries a digest of them and a search
only considers entries with the caller's digest. Partitions are capped (the least recently used is evicted with
its entries) and an empty one is freed at once. A small partition is searched exactly with numpy; past
``flat_max`` entries it moves into hnswlib, whose index costs ~2.5 MB even when nearly empty (its per-label
locks), so a long tail of small partitions stays cheap."""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable

import hnswlib
import numpy as np

__all__ = ["VectorIndex"]

_INITIAL = 1024  # hnswlib capacity when a partition moves into it (it doubles as needed)


class _Partition:
    """One partition's entries. Labels are fresh for every add (never reused), so hnswlib's reuse of a deleted
    slot can never confuse two entries; ``deleted`` counts the slots it may reuse."""

    def __init__(self) -> None:
        self.ids: dict[int, str] = {}  # live label -> entry id
        self.params: dict[int, str] = {}  # live label -> generation-parameter digest
        self.counts: Counter[str] = Counter()  # digest -> live labels
        self.flat: dict[int, np.ndarray] | None = {}  # vectors, while the partition is searched exactly
        self.hnsw: hnswlib.Index | None = None
        self.next_label = 0
        self.deleted = 0


class VectorIndex:
    def __init__(
        self,
        dim: int,
        *,
        max_entries: int = 200_000,
        max_partitions: int = 1024,
        flat_max: int = 512,
        m: int = 16,
        ef_construction: int = 200,
        ef_search: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dim = dim
        self.max_entries = max_entries
        self.max_partitions = max_partitions
        self.flat_max = flat_max
        self._m = m
        self._efc = ef_construction
        self._ef = ef_search
        self._clock = clock
        self._parts: OrderedDict[str, _Partition] = OrderedDict()  # least recently used first
        # entry id -> (partition, label, expires_at); insertion order = age, for eviction
        self._entries: OrderedDict[str, tuple[str, int, float]] = OrderedDict()
        self.evicted = 0
        self.expired = 0
        self.partitions_evicted = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._entries

    @property
    def partitions(self) -> int:
        return len(self._parts)

    def _partition(self, key: str) -> _Partition:
        part = self._parts.get(key)
        if part is not None:
            self._parts.move_to_end(key)
            return part
        while len(self._parts) >= self.max_partitions:
            self._drop_partition(next(iter(self._parts)))
        part = self._parts[key] = _Partition()
        return part

    def _drop_partition(self, key: str) -> None:
        """Evict a whole partition (its entries stay in the store; only their semantic lookup is lost here)."""
        part = self._parts.pop(key)
        for entry_id in part.ids.values():
            del self._entries[entry_id]
        self.evicted += len(part.ids)
        self.partitions_evicted += 1

    def add(self, entry_id: str, partition: str, vector: np.ndarray, expires_at: float, params: str = "") -> bool:
        """Insert (False when already present). Evicts the oldest entries beyond ``max_entries`` and the least
        recently used partition beyond ``max_partitions``."""
        if entry_id in self._entries:
            return False
        while len(self._entries) >= self.max_entries:
            self.remove(next(iter(self._entries)))
            self.evicted += 1
        part = self._partition(partition)
        vec = np.asarray(vector, dtype=np.float32).reshape(self.dim)
        if part.flat is not None and len(part.ids) >= self.flat_max:
            self._promote(part)
        label = part.next_label
        part.next_label += 1
        if part.flat is not None:
            part.flat[label] = vec
        else:
            self._hnsw_add(part, label, vec)
        part.ids[label] = entry_id
        part.params[label] = params
        part.counts[params] += 1
        self._entries[entry_id] = (partition, label, expires_at)
        return True

    def _promote(self, part: _Partition) -> None:
        """Move a partition that outgrew exact search into its own hnswlib index."""
        assert part.flat is not None
        index = hnswlib.Index(space="ip", dim=self.dim)
        index.init_index(
            max_elements=max(_INITIAL, 2 * len(part.flat)),
            ef_construction=self._efc,
            M=self._m,
            allow_replace_deleted=True,
        )
        index.set_ef(self._ef)
        if part.flat:
            labels = list(part.flat)
            index.add_items(np.stack([part.flat[x] for x in labels]), np.array(labels), num_threads=1)
        part.hnsw, part.flat, part.deleted = index, None, 0

    @staticmethod
    def _hnsw_add(part: _Partition, label: int, vec: np.ndarray) -> None:
        index = part.hnsw
        assert index is not None
        if part.deleted:  # reuse a removed entry's slot (the label is fresh, so nothing can collide)
            index.add_items(vec.reshape(1, -1), np.array([label]), num_threads=1, replace_deleted=True)
            part.deleted -= 1
            return
        if index.element_count >= index.max_elements:
            index.resize_index(index.max_elements * 2)
        index.add_items(vec.reshape(1, -1), np.array([label]), num_threads=1)

    def remove(self, entry_id: str) -> bool:
        found = self._entries.pop(entry_id, None)
        if found is None:
            return False
        key, label, _ = found
        part = self._parts[key]
        del part.ids[label]
        params = part.params.pop(label)
        part.counts[params] -= 1
        if not part.counts[params]:
            del part.counts[params]
        if not part.ids:
            del self._parts[key]  # an empty partition is freed (with its hnswlib index)
        elif part.flat is not None:
            del part.flat[label]
        else:
            assert part.hnsw is not None
            part.hnsw.mark_deleted(label)
            part.deleted += 1
        return True

    def search(self, partition: str, vector: np.ndarray, k: int, params: str = "") -> list[tuple[str, float]]:
        """Up to ``k`` live, unexpired (entry id, similarity) whose parameter digest is ``params``, most similar
        first."""
        part = self._parts.get(partition)
        if part is None:
            return []
        self._parts.move_to_end(partition)
        kk = min(k, part.counts.get(params, 0))
        if kk <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(self.dim)
        found = (
            self._flat_search(part, query, kk, params)
            if part.flat is not None
            else self._hnsw_search(part, query, kk, params)
        )
        now = self._clock()
        out = []
        for label, sim in found:
            entry_id = part.ids.get(label)
            if entry_id is None:
                continue
            if self._entries[entry_id][2] <= now:
                self.remove(entry_id)
                self.expired += 1
                continue
            out.append((entry_id, sim))
        return out

    @staticmethod
    def _flat_search(part: _Partition, query: np.ndarray, k: int, params: str) -> list[tuple[int, float]]:
        assert part.flat is not None
        labels = [label for label, p in part.params.items() if p == params]
        sims = np.stack([part.flat[x] for x in labels]) @ query
        best = np.argsort(-sims, kind="stable")[:k]
        return [(labels[i], float(sims[i])) for i in best]

    @staticmethod
    def _hnsw_search(part: _Partition, query: np.ndarray, k: int, params: str) -> list[tuple[int, float]]:
        assert part.hnsw is not None
        same = part.params
        only = len(part.counts) == 1  # every live entry has these parameters: no filter needed
        accept = None if only else (lambda label: same.get(label) == params)
        for kk in dict.fromkeys((k, 1)):
            try:
                labels, distances = part.hnsw.knn_query(query.reshape(1, -1), k=kk, num_threads=1, filter=accept)
            except RuntimeError:  # the approximate search reached fewer than kk matching entries
                continue
            return [(int(x), float(1.0 - d)) for x, d in zip(labels[0], distances[0], strict=True)]
        return []

    def sweep(self) -> int:
        """Drop every expired entry; returns how many."""
        now = self._clock()
        stale = [eid for eid, (_, _, exp) in self._entries.items() if exp <= now]
        for eid in stale:
            self.remove(eid)
        self.expired += len(stale)
        return len(stale)

"""Bounded hnswlib index, partitioned (one small index per tenant scope, model and system prompt), with
entry expiry, deletion and oldest-first eviction. Similarity is cosine (inner product of unit vectors)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import hnswlib
import numpy as np

__all__ = ["VectorIndex"]

_INITIAL = 1024


@dataclass
class _Partition:
    index: hnswlib.Index
    capacity: int
    labels: dict[int, str] = field(default_factory=dict)  # live label -> entry id
    free: list[int] = field(default_factory=list)  # deleted labels whose slots can be reused
    next_label: int = 0


class VectorIndex:
    def __init__(
        self,
        dim: int,
        *,
        max_entries: int = 200_000,
        m: int = 16,
        ef_construction: int = 200,
        ef_search: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dim = dim
        self.max_entries = max_entries
        self._m = m
        self._efc = ef_construction
        self._ef = ef_search
        self._clock = clock
        self._parts: dict[str, _Partition] = {}
        # entry id -> (partition, label, expires_at); insertion order = age, for eviction
        self._entries: OrderedDict[str, tuple[str, int, float]] = OrderedDict()
        self.evicted = 0
        self.expired = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._entries

    def _partition(self, key: str) -> _Partition:
        part = self._parts.get(key)
        if part is None:
            index = hnswlib.Index(space="ip", dim=self.dim)
            index.init_index(max_elements=_INITIAL, ef_construction=self._efc, M=self._m, allow_replace_deleted=True)
            index.set_ef(self._ef)
            part = self._parts[key] = _Partition(index, _INITIAL)
        return part

    def add(self, entry_id: str, partition: str, vector: np.ndarray, expires_at: float) -> bool:
        """Insert (False when already present). Evicts the oldest entries beyond ``max_entries``."""
        if entry_id in self._entries:
            return False
        while len(self._entries) >= self.max_entries:
            oldest = next(iter(self._entries))
            self.remove(oldest)
            self.evicted += 1
        part = self._partition(partition)
        vec = np.asarray(vector, dtype=np.float32).reshape(1, self.dim)
        if part.free:
            label = part.free.pop()
            part.index.add_items(vec, np.array([label]), num_threads=1, replace_deleted=True)
        else:
            if part.next_label >= part.capacity:
                part.capacity *= 2
                part.index.resize_index(part.capacity)
            label = part.next_label
            part.next_label += 1
            part.index.add_items(vec, np.array([label]), num_threads=1)
        part.labels[label] = entry_id
        self._entries[entry_id] = (partition, label, expires_at)
        return True

    def remove(self, entry_id: str) -> bool:
        found = self._entries.pop(entry_id, None)
        if found is None:
            return False
        key, label, _ = found
        part = self._parts[key]
        part.index.mark_deleted(label)
        del part.labels[label]
        part.free.append(label)
        return True

    def search(self, partition: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Up to ``k`` live, unexpired (entry id, similarity), most similar first."""
        part = self._parts.get(partition)
        if part is None or not part.labels:
            return []
        now = self._clock()
        kk = min(k, len(part.labels))
        labels, distances = part.index.knn_query(
            np.asarray(vector, dtype=np.float32).reshape(1, self.dim), k=kk, num_threads=1
        )
        out = []
        for label, dist in zip(labels[0], distances[0], strict=True):
            entry_id = part.labels.get(int(label))
            if entry_id is None:
                continue
            if self._entries[entry_id][2] <= now:
                self.remove(entry_id)
                self.expired += 1
                continue
            out.append((entry_id, float(1.0 - dist)))
        return out

    def sweep(self) -> int:
        """Drop every expired entry; returns how many."""
        now = self._clock()
        stale = [eid for eid, (_, _, exp) in self._entries.items() if exp <= now]
        for eid in stale:
            self.remove(eid)
        self.expired += len(stale)
        return len(stale)

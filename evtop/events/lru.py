"""A bounded least-recently-used mapping that tells its owner what it evicts.

kombu's ``LRUCache`` is what celery's State uses; evtop needs the same observable
behaviour (``cache[key]`` refreshes recency, inserting past the limit drops the oldest,
``.data`` gives un-refreshed access for the hot path) plus an eviction hook so the State's
secondary indexes never point at forgotten tasks, and a lock shared with the State so
iteration from a reader thread can never race the writer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRUCache(MutableMapping[K, V], Generic[K, V]):
    """Mapping bounded to ``limit`` entries, oldest-used evicted first."""

    def __init__(
        self,
        limit: int | None = None,
        *,
        lock: threading.RLock | None = None,
        on_evict: Callable[[K, V], None] | None = None,
    ) -> None:
        #: ``None`` or ``0`` means unbounded, as in kombu.
        self.limit = limit
        self.mutex = lock if lock is not None else threading.RLock()
        #: Direct access that does not refresh recency (what State uses internally).
        self.data: OrderedDict[K, V] = OrderedDict()
        self.on_evict = on_evict

    def __getitem__(self, key: K) -> V:
        with self.mutex:
            value = self.data[key]
            self.data.move_to_end(key)
            return value

    def __setitem__(self, key: K, value: V) -> None:
        with self.mutex:
            data = self.data
            if key in data:
                data[key] = value
                data.move_to_end(key)
                return
            limit = self.limit
            if limit and len(data) >= limit:
                old_key, old_value = data.popitem(last=False)
                if self.on_evict is not None:
                    self.on_evict(old_key, old_value)
            data[key] = value

    def __delitem__(self, key: K) -> None:
        with self.mutex:
            del self.data[key]

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[K]:
        return iter(self.keys())

    # Snapshots taken under the lock: a reader thread never sees the dict change under it.
    def keys(self) -> list[K]:  # type: ignore[override]
        with self.mutex:
            return list(self.data)

    def values(self) -> list[V]:  # type: ignore[override]
        with self.mutex:
            return list(self.data.values())

    def items(self) -> list[tuple[K, V]]:  # type: ignore[override]
        with self.mutex:
            return list(self.data.items())

    def clear(self) -> None:
        with self.mutex:
            self.data.clear()

    def __repr__(self) -> str:
        return f"<LRUCache {len(self.data)}/{self.limit}>"

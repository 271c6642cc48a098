"""A bounded least-recently-used map: the one eviction policy of the process's caches.

The user rows kept per token (db/user_cache.py), agent stats (db/agent_stats_cache.py), kept
introspection results (schema/introspection_cache.py), APQ documents in memory
(db/persisted_queries.py), token sightings (db/tokens_redis.py), the brokers' kept events
and sequences (db/broker_local.py, db/broker_redis.py) each hold at most so much, the least
recently used leaving first.
What they keep and when an entry goes stale is theirs; the bound is this.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _one(_value: object) -> int:
    return 1


class LRU(Generic[K, V]):
    """At most `max_weight` of values (each weighs `weigh(value)`, 1 by default: a count);
    `get` and `put` make an entry the most recent, and the least recent leave first."""

    def __init__(self, max_weight: int, weigh: Callable[[V], int] = _one) -> None:
        if max_weight <= 0:
            raise ValueError("max_weight must be positive")
        self.max_weight = max_weight
        self._weigh = weigh
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.weight = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V) -> bool:
        """Keep `value` as the most recent; False when it alone outweighs the bound (then
        it is not kept, and any older value of `key` is dropped)."""
        self.pop(key)
        weight = self._weigh(value)
        if weight > self.max_weight:
            return False
        self._entries[key] = (value, weight)
        self.weight += weight
        while self.weight > self.max_weight:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.weight -= dropped
        return True

    def pop(self, key: K) -> V | None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        self.weight -= entry[1]
        return entry[0]

    def items(self) -> Iterator[tuple[K, V]]:
        """A snapshot of the entries, least recent first (safe to `pop` while iterating)."""
        return iter([(key, value) for key, (value, _) in self._entries.items()])

    def clear(self) -> None:
        self._entries.clear()
        self.weight = 0

"""The failure table: keys that just failed here, quenched for a short while.

When a request for a key ends in DataNotFound at this node, the key is noted
with the HTL the request had. For ``failure_table_ttl`` seconds, a new request
for the same key arriving with no more HTL than that is answered DataNotFound at
once: it could search no further than the one that just failed, and answering
from the table stops a burst of requests for missing data from flooding the
network. The table is a bounded dict in insertion order, oldest evicted first.
"""

from __future__ import annotations


class FailureTable:
    __slots__ = ("_entries", "_size", "_ttl")

    def __init__(self, ttl: float, size: int) -> None:
        self._ttl = ttl
        self._size = size
        self._entries: dict[bytes, tuple[float, int]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def record(self, routing_key: bytes, htl: int, now: float) -> None:
        entries = self._entries
        entries.pop(routing_key, None)
        entries[routing_key] = (now + self._ttl, htl)
        if len(entries) > self._size:
            del entries[next(iter(entries))]

    def quenched(self, routing_key: bytes, htl: int, now: float) -> bool:
        entry = self._entries.get(routing_key)
        if entry is None:
            return False
        if entry[0] <= now:
            del self._entries[routing_key]
            return False
        return htl <= entry[1]

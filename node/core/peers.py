"""The peer table: who we are linked to, where they are, and how they are doing.

Theory of operation
-------------------
Routing asks one question on every hop: "which peer, not yet tried for this
request, is closest to location x?". The table keeps peers' locations in a
sorted list beside their ids, so the answer is a binary search and a walk
outward in both directions around the circle, skipping peers already tried, at
their in-flight limit, or backed off. Backed-off peers are a fallback only: a
request that has nowhere else to go still tries one.

Each :class:`Peer` also carries the two HTL decisions made once per link (see
``Config.p_decrement_at_max``), in-flight counters in each direction for load
limiting, the exponential back-off state, and the time the peer was last useful
(it returned data or completed an insert), which is what the opennet rule
"drop the least useful peer" ranks by. The longest links (a ``long_link_share``
of the table) are protected from that rule so the small world keeps its
shortcuts.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Container, Sequence

from node.core.actions import PeerId


class Peer:
    """Mutable state of one linked peer (slotted: a 10^5-node sim holds millions)."""

    __slots__ = (
        "backoff_len",
        "backoff_until",
        "connected_at",
        "dec_at_max",
        "dec_at_one",
        "foaf",
        "id",
        "in_flight_in",
        "in_flight_out",
        "last_useful",
        "location",
        "ref",
    )

    def __init__(
        self,
        peer_id: PeerId,
        ref: bytes,
        location: float,
        now: float,
        *,
        dec_at_max: bool,
        dec_at_one: bool,
    ) -> None:
        self.id = peer_id
        self.ref = ref
        self.location = location
        self.connected_at = now
        self.last_useful = now
        self.dec_at_max = dec_at_max
        self.dec_at_one = dec_at_one
        self.in_flight_in = 0
        self.in_flight_out = 0
        self.backoff_until = 0.0
        self.backoff_len = 0.0
        # The peer's peers' locations, sorted (darknet); the shared empty tuple
        # until told, so opennet peers (never told) cost no list each.
        self.foaf: Sequence[float] = ()

    def back_off(self, now: float, initial: float, ceiling: float, jitter: float) -> None:
        """Double the back-off (from ``initial``, up to ``ceiling``) and start it.

        ``jitter`` in [0, 1) spreads retries so peers do not retry in lockstep.
        """
        self.backoff_len = min(ceiling, self.backoff_len * 2.0 if self.backoff_len else initial)
        self.backoff_until = now + self.backoff_len * (0.5 + jitter)

    def useful(self, now: float) -> None:
        """The peer answered well: remember when, and forgive its back-off."""
        self.last_useful = now
        self.backoff_len = 0.0
        self.backoff_until = 0.0


def circular_distance(a: float, b: float) -> float:
    """Distance on the circle [0, 1) (same as :func:`crypto.location.distance`)."""
    d = a - b if a >= b else b - a
    return d if d <= 0.5 else 1.0 - d


class PeerTable:
    """Peers by id, plus their locations in sorted order for greedy routing."""

    __slots__ = ("_ids", "_locs", "by_id", "by_ref")

    def __init__(self) -> None:
        self.by_id: dict[PeerId, Peer] = {}
        self.by_ref: dict[bytes, PeerId] = {}
        self._locs: list[float] = []
        self._ids: list[PeerId] = []

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, peer_id: object) -> bool:
        return peer_id in self.by_id

    def get(self, peer_id: PeerId) -> Peer | None:
        return self.by_id.get(peer_id)

    def ids(self) -> list[PeerId]:
        """Peer ids in location order (the live list: do not mutate)."""
        return self._ids

    def locations(self) -> list[float]:
        """Peer locations, sorted (the live list: do not mutate)."""
        return self._locs

    def add(self, peer: Peer) -> None:
        self.by_id[peer.id] = peer
        self.by_ref[peer.ref] = peer.id
        i = bisect_left(self._locs, peer.location)
        self._locs.insert(i, peer.location)
        self._ids.insert(i, peer.id)

    def remove(self, peer_id: PeerId) -> Peer | None:
        peer = self.by_id.pop(peer_id, None)
        if peer is None:
            return None
        if self.by_ref.get(peer.ref) == peer_id:
            del self.by_ref[peer.ref]
        self._unindex(peer)
        return peer

    def relocate(self, peer_id: PeerId, location: float) -> None:
        peer = self.by_id.get(peer_id)
        if peer is None:
            return
        self._unindex(peer)
        peer.location = location
        i = bisect_left(self._locs, location)
        self._locs.insert(i, location)
        self._ids.insert(i, peer_id)

    def _unindex(self, peer: Peer) -> None:
        i = bisect_left(self._locs, peer.location)
        while self._ids[i] != peer.id:
            i += 1
        del self._locs[i]
        del self._ids[i]

    def closest(
        self, target: float, tried: Container[PeerId], now: float, limit: int
    ) -> Peer | None:
        """The peer nearest ``target`` not in ``tried`` and under ``limit`` in flight.

        Peers in back-off are skipped unless nothing else is left.
        """
        locs = self._locs
        n = len(locs)
        if not n:
            return None
        ids = self._ids
        by_id = self.by_id
        hi = bisect_left(locs, target)
        lo = hi - 1
        fallback: Peer | None = None
        for _ in range(n):
            if (locs[hi % n] - target) % 1.0 <= (target - locs[lo % n]) % 1.0:
                pid = ids[hi % n]
                hi += 1
            else:
                pid = ids[lo % n]
                lo -= 1
            if pid in tried:
                continue
            peer = by_id[pid]
            if peer.in_flight_out >= limit:
                continue
            if peer.backoff_until > now:
                if fallback is None:
                    fallback = peer
                continue
            return peer
        return fallback

    def untried_at_limit(self, tried: Container[PeerId], limit: int) -> bool:
        """Is some peer not in ``tried`` at ``limit`` in flight (busy, not used up)?"""
        return any(
            peer.in_flight_out >= limit for pid, peer in self.by_id.items() if pid not in tried
        )

    def untried_with_room(self, tried: Container[PeerId], limit: int) -> bool:
        """Is some peer not in ``tried`` under ``limit`` in flight?"""
        return any(
            peer.in_flight_out < limit for pid, peer in self.by_id.items() if pid not in tried
        )

    def set_foaf(self, peer_id: PeerId, locations: tuple[float, ...], mine: float) -> None:
        """Remember ``peer_id``'s peers' locations (ours, ``mine``, left out)."""
        peer = self.by_id.get(peer_id)
        if peer is not None:
            peer.foaf = sorted(loc for loc in locations if loc != mine)

    def closest_foaf(
        self, target: float, tried: Container[PeerId], now: float, limit: int
    ) -> Peer | None:
        """Like :meth:`closest`, but a peer counts as near as the nearest of its own
        location and its peers' (ties go to the peer itself nearer ``target``)."""
        best: Peer | None = None
        best_key = (2.0, 2.0)
        fallback: Peer | None = None
        fallback_key = (2.0, 2.0)
        for pid, peer in self.by_id.items():
            if pid in tried or peer.in_flight_out >= limit:
                continue
            d = circular_distance(peer.location, target)
            v = d
            foaf = peer.foaf
            if foaf:
                i = bisect_left(foaf, target)
                n = len(foaf)
                v = min(
                    v,
                    circular_distance(foaf[i % n], target),
                    circular_distance(foaf[i - 1], target),
                )
            key = (v, d)
            if peer.backoff_until > now:
                if key < fallback_key:
                    fallback, fallback_key = peer, key
            elif key < best_key:
                best, best_key = peer, key
        return best if best is not None else fallback

    def random_untried(
        self, rng: random.Random, tried: Container[PeerId], now: float, limit: int
    ) -> Peer | None:
        """A uniformly random peer not in ``tried`` and under ``limit`` in flight.

        Peers in back-off are taken only when nothing else is left, as in
        :meth:`closest`.
        """
        ids = self._ids
        n = len(ids)
        if not n:
            return None
        start = rng.randrange(n)
        fallback: Peer | None = None
        for i in range(n):
            pid = ids[(start + i) % n]
            if pid in tried:
                continue
            peer = self.by_id[pid]
            if peer.in_flight_out >= limit:
                continue
            if peer.backoff_until > now:
                if fallback is None:
                    fallback = peer
                continue
            return peer
        return fallback

    def nearest_distance(self, target: float, excluding: PeerId | None = None) -> float:
        """Distance from ``target`` to the nearest peer other than ``excluding``
        (1.0 with no such peer)."""
        locs = self._locs
        n = len(locs)
        if not n:
            return 1.0
        i = bisect_left(locs, target)
        if excluding is None:
            return min(
                circular_distance(locs[i % n], target), circular_distance(locs[i - 1], target)
            )
        ids = self._ids
        hi, lo = i, i - 1
        for _ in range(n):
            if (locs[hi % n] - target) % 1.0 <= (target - locs[lo % n]) % 1.0:
                j = hi % n
                hi += 1
            else:
                j = lo % n
                lo -= 1
            if ids[j] != excluding:
                return circular_distance(locs[j], target)
        return 1.0

    def least_useful(
        self,
        own_location: float,
        now: float,
        *,
        protect: int,
        min_age: float,
        protect_short: int = 0,
    ) -> Peer | None:
        """The peer to drop for a newcomer: the one longest without being useful,
        excluding the ``protect`` longest links, the ``protect_short`` shortest
        ones and peers younger than ``min_age``."""
        peers = list(self.by_id.values())
        if protect or protect_short:
            peers.sort(key=lambda p: circular_distance(p.location, own_location))
            peers = peers[protect_short : len(peers) - protect]
        candidates = [p for p in peers if now - p.connected_at >= min_age]
        if not candidates:
            return None
        return min(candidates, key=lambda p: p.last_useful)

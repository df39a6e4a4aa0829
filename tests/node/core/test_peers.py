"""The peer table: greedy choice, back-off fallback, least-useful choice, failure table."""

import random

from hypothesis import given
from hypothesis import strategies as st

from node.core.failures import FailureTable
from node.core.peers import Peer, PeerTable, circular_distance


def _peer(i: int, loc: float, now: float = 0.0) -> Peer:
    return Peer(bytes([i]), bytes([i]), loc, now, dec_at_max=False, dec_at_one=False)


@given(
    st.lists(st.floats(0.0, 0.999999), min_size=1, max_size=30),
    st.floats(0.0, 0.999999),
    st.sets(st.integers(0, 29)),
)
def test_closest_matches_brute_force(locs: list[float], target: float, tried_ix: set[int]) -> None:
    table = PeerTable()
    for i, loc in enumerate(locs):
        table.add(_peer(i, loc))
    tried = {bytes([i]) for i in tried_ix}
    got = table.closest(target, tried, 0.0, 10)
    left = [
        (circular_distance(loc, target), i) for i, loc in enumerate(locs) if bytes([i]) not in tried
    ]
    if not left:
        assert got is None
    else:
        assert got is not None
        assert circular_distance(got.location, target) == min(left)[0]


@given(
    st.lists(st.floats(0.0, 0.999999), max_size=30),
    st.floats(0.0, 0.999999),
    st.one_of(st.none(), st.integers(0, 29)),
)
def test_nearest_distance_matches_brute_force(
    locs: list[float], target: float, excluding: int | None
) -> None:
    table = PeerTable()
    for i, loc in enumerate(locs):
        table.add(_peer(i, loc))
    skip = None if excluding is None else bytes([excluding])
    left = [circular_distance(loc, target) for i, loc in enumerate(locs) if bytes([i]) != skip]
    assert table.nearest_distance(target, skip) == (min(left) if left else 1.0)


def test_backed_off_peer_is_only_a_fallback_and_limit_excludes() -> None:
    table = PeerTable()
    near, far = _peer(1, 0.5), _peer(2, 0.9)
    table.add(near)
    table.add(far)
    near.back_off(0.0, 1.0, 10.0, 0.5)
    assert table.closest(0.5, set(), 0.5, 10) is far
    assert table.closest(0.5, {far.id}, 0.5, 10) is near
    assert table.closest(0.5, set(), 5.0, 10) is near  # back-off over
    near.in_flight_out = 3
    assert table.closest(0.5, {far.id}, 5.0, 3) is None


def test_backoff_doubles_to_ceiling_and_success_resets() -> None:
    p = _peer(1, 0.1)
    lens = []
    for _ in range(6):
        p.back_off(0.0, 1.0, 8.0, 0.5)
        lens.append(p.backoff_len)
    assert lens == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    p.useful(3.0)
    assert p.backoff_len == 0.0 and p.backoff_until == 0.0 and p.last_useful == 3.0


def test_relocate_and_remove_keep_the_index_sorted() -> None:
    rng = random.Random(5)
    table = PeerTable()
    for i in range(20):
        table.add(_peer(i, rng.random()))
    for i in range(0, 20, 3):
        table.relocate(bytes([i]), rng.random())
    for i in range(1, 20, 4):
        table.remove(bytes([i]))
    assert table.locations() == sorted(table.locations())
    assert sorted(table.ids()) == sorted(table.by_id)
    assert [table.by_id[p].location for p in table.ids()] == table.locations()


def test_least_useful_protects_long_links_and_young_peers() -> None:
    table = PeerTable()
    peers = [_peer(i, loc) for i, loc in enumerate([0.01, 0.02, 0.03, 0.5])]
    for p in peers:
        table.add(p)
    peers[0].last_useful = 50.0
    peers[1].last_useful = 40.0
    peers[2].last_useful = 60.0
    peers[3].last_useful = 0.0  # the longest link: least useful but protected
    assert table.least_useful(0.0, 100.0, protect=1, min_age=10.0) is peers[1]
    assert table.least_useful(0.0, 100.0, protect=0, min_age=10.0) is peers[3]
    assert table.least_useful(0.0, 5.0, protect=0, min_age=10.0) is None


def test_failure_table_quenches_then_expires_and_is_bounded() -> None:
    ft = FailureTable(ttl=10.0, size=2)
    ft.record(b"a", 5, now=0.0)
    assert ft.quenched(b"a", 5, 1.0)
    assert not ft.quenched(b"a", 6, 1.0)  # more HTL could search further
    assert not ft.quenched(b"a", 5, 10.0)
    ft.record(b"a", 5, 0.0)
    ft.record(b"b", 5, 0.0)
    ft.record(b"c", 5, 0.0)
    assert len(ft) == 2 and not ft.quenched(b"a", 1, 1.0)

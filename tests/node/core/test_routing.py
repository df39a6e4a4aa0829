"""The request/insert/announce state machine, pushed through paired endpoints."""

from __future__ import annotations

import dataclasses
import random

import pytest

from crypto.blocks import Block, KeyKind
from crypto.errors import InvalidBlock
from crypto.keys import insert_chk
from node.core import (
    AnnounceDone,
    Area,
    Config,
    ConnectTo,
    DropPeer,
    InsertDone,
    LocalProtocolError,
    LookupBlock,
    Node,
    Outcome,
    RequestDone,
    Send,
    SetTimer,
    StoreBlock,
)
from node.core.messages import (
    DataFound,
    DataNotFound,
    DataRequest,
    FoldRef,
    Insert,
    InsertAccepted,
    InsertData,
    InsertReply,
    LocationUpdate,
    RejectedLoop,
    RejectedOverload,
    RouteNotFound,
)
from node.core.node import FOAF_TOKEN
from tests.node.core.helpers import MiniNet, block_at, fix_htl_links, key_at, line, pid


def _hops(net: MiniNet, kind: type) -> list[tuple[bytes, bytes, int | None]]:
    return [(a, b, getattr(msg, "htl", None)) for a, b, msg in net.sent(kind)]


def test_request_found_two_hops_away_records_the_path_and_caches_on_the_way_back() -> None:
    net = line(5)
    fix_htl_links(net)
    block = block_at(0.8)
    net.put(4, block)
    origin = net.nodes[pid(0)]
    actions = origin.start_request(KeyKind.CHK, block.routing_key, 7, 0.0)
    assert actions == [
        LookupBlock(token=actions[0].token, kind=KeyKind.CHK, routing_key=block.routing_key)
    ]  # type: ignore[union-attr]
    net.apply(pid(0), actions)
    net.run()
    assert _hops(net, DataRequest) == [
        (pid(0), pid(1), 17),
        (pid(1), pid(2), 16),
        (pid(2), pid(3), 15),
        (pid(3), pid(4), 14),
    ]
    assert [(a, b) for a, b, _ in net.sent(DataFound)] == [
        (pid(4), pid(3)),
        (pid(3), pid(2)),
        (pid(2), pid(1)),
        (pid(1), pid(0)),
    ]
    assert net.done(RequestDone) == [RequestDone(client_id=7, outcome=Outcome.FOUND, block=block)]
    cached = [(r.node, r.action.area) for r in net.log if isinstance(r.action, StoreBlock)]  # type: ignore[union-attr]
    # Nodes 3 and 2 received HTL 15 and 16 and cache; node 1 (HTL 17) and the origin do not.
    assert cached == [(pid(3), Area.CACHE), (pid(2), Area.CACHE)]
    assert not origin.pending and not any(n.pending for n in net.nodes.values())


def test_local_hit_answers_without_sending() -> None:
    net = line(2)
    block = block_at(0.1)
    net.put(0, block)
    net.apply(pid(0), net.nodes[pid(0)].start_request(KeyKind.CHK, block.routing_key, 1, 0.0))
    net.run()
    # Only the friends' location updates (FOAF) went out; nothing for the request.
    assert [m for m in net.sent() if not isinstance(m[2], LocationUpdate)] == []
    assert net.done(RequestDone) == [RequestDone(client_id=1, outcome=Outcome.FOUND, block=block)]


def test_htl_runs_out_into_data_not_found_and_the_failure_table_quenches() -> None:
    # One-hop routing: the FOAF update's timer would move the clock past the quench.
    net = line(6, config=Config(max_htl=3, foaf_routing=False))
    fix_htl_links(net)
    key = key_at(0.95)
    net.apply(pid(0), net.nodes[pid(0)].start_request(KeyKind.CHK, key, 1, 0.0))
    net.run()
    assert _hops(net, DataRequest) == [(pid(0), pid(1), 2), (pid(1), pid(2), 1)]
    assert [(a, b) for a, b, _ in net.sent(DataNotFound)] == [(pid(2), pid(1)), (pid(1), pid(0))]
    assert net.done(RequestDone) == [RequestDone(client_id=1, outcome=Outcome.DATA_NOT_FOUND)]
    # Node 1 now quenches the key: a second request is answered at once.
    net.log.clear()
    net.apply(pid(0), net.nodes[pid(0)].start_request(KeyKind.CHK, key, 2, 1.0))
    net.run()
    assert _hops(net, DataRequest) == [(pid(0), pid(1), 2)]
    assert net.done(RequestDone) == [RequestDone(client_id=2, outcome=Outcome.DATA_NOT_FOUND)]


def test_htl_stays_at_max_or_one_on_links_that_do_not_decrement() -> None:
    net = line(4, config=Config(max_htl=3))
    fix_htl_links(net, dec_at_max=True, dec_at_one=False)
    net.nodes[pid(0)].peers.get(pid(1)).dec_at_max = False  # type: ignore[union-attr]
    net.apply(pid(0), net.nodes[pid(0)].start_request(KeyKind.CHK, key_at(0.9), 1, 0.0))
    net.run()
    # 3 stays 3 on the first link, then 2, then 1 stays 1: the tail has no fixed length.
    assert _hops(net, DataRequest) == [
        (pid(0), pid(1), 3),
        (pid(1), pid(2), 2),
        (pid(2), pid(3), 1),
    ]
    assert net.sent(RouteNotFound)[0][:2] == (pid(3), pid(2))


def _star() -> MiniNet:
    """Origin 0 at 0.0; 1 at 0.45 is a dead end, 2 at 0.3 leads to 3 at 0.5 (the data)."""
    net = MiniNet()
    for i, loc in enumerate([0.0, 0.45, 0.3, 0.5]):
        net.add(i, loc)
    net.link(0, 1)
    net.link(0, 2)
    net.link(2, 3)
    fix_htl_links(net)
    return net


def test_route_not_found_carries_remaining_htl_and_the_origin_backtracks() -> None:
    net = _star()
    block = block_at(0.5)
    net.put(3, block)
    net.apply(pid(0), net.nodes[pid(0)].start_request(KeyKind.CHK, block.routing_key, 1, 0.0))
    net.run()
    # Visiting node 1 cost one hop: the origin continues with the 17 it got back.
    assert _hops(net, DataRequest) == [
        (pid(0), pid(1), 17),
        (pid(0), pid(2), 16),
        (pid(2), pid(3), 15),
    ]
    # Node 1 has no other peer: RouteNotFound with the HTL it held.
    assert net.sent(RouteNotFound) == [
        (pid(1), pid(0), RouteNotFound(uid=net.sent()[0][2].uid, htl=17))
    ]  # type: ignore[union-attr]
    assert net.done(RequestDone)[0].outcome is Outcome.FOUND  # type: ignore[union-attr]


def test_loops_are_rejected_and_cost_no_htl() -> None:
    net = MiniNet()
    for i, loc in enumerate([0.0, 0.3, 0.35, 0.9]):
        net.add(i, loc)
    for a, b in [(0, 1), (0, 2), (1, 2), (0, 3)]:
        net.link(a, b)
    fix_htl_links(net)
    net.apply(pid(0), net.nodes[pid(0)].start_request(KeyKind.CHK, key_at(0.34), 1, 0.0))
    net.run()
    loops = [(a, b) for a, b, _ in net.sent(RejectedLoop)]
    assert (pid(0), pid(1)) in loops  # 1 forwarded back to the origin, which is in flight
    assert (pid(1), pid(0)) in loops  # backtracking into 1, which already finished: rejected
    for _a, _b, msg in net.sent(DataRequest):
        assert msg.htl <= 17  # type: ignore[union-attr]
    assert len(net.done(RequestDone)) == 1


def test_overload_is_rejected_explicitly_and_the_sender_backs_off() -> None:
    net = line(3, config=Config(peer_in_flight_limit=1))
    fix_htl_links(net)
    origin = net.nodes[pid(0)]
    n1 = net.nodes[pid(1)]
    a1 = n1.receive(pid(0), DataRequest(uid=1, kind=1, routing_key=key_at(0.9), htl=10), 0.0)
    assert isinstance(a1[0], LookupBlock)
    a2 = n1.receive(pid(0), DataRequest(uid=2, kind=1, routing_key=key_at(0.9), htl=10), 0.0)
    assert a2 == [Send(peer=pid(0), message=RejectedOverload(uid=2))]
    # The sender side: a request waiting on node 1 is told it is overloaded.
    acts = origin.start_request(KeyKind.CHK, key_at(0.5), 9, 0.0)
    acts = origin.block_looked_up(acts[0].token, None, 0.0)  # type: ignore[union-attr]
    uid = acts[0].message.uid  # type: ignore[union-attr]
    acts = origin.receive(pid(1), RejectedOverload(uid=uid), 0.1)
    assert acts == [RequestDone(client_id=9, outcome=Outcome.ROUTE_NOT_FOUND)]
    peer = origin.peers.get(pid(1))
    assert peer is not None and peer.backoff_until > 0.1 and peer.backoff_len == 1.0


def test_our_own_requests_wait_for_a_busy_peer_instead_of_failing() -> None:
    # One peer, a send limit of 2, five requests: a client window wider than
    # what its peers take must not turn into RouteNotFound (a restarted node
    # with one peer back failed a whole segment in milliseconds that way).
    net = line(3, config=Config(peer_in_flight_limit=2))
    fix_htl_links(net)
    blocks = [Block(KeyKind.CHK, key_at(0.7, salt=i), b"%d" % i) for i in range(5)]
    for b in blocks:
        net.put(2, b)
    origin = net.nodes[pid(0)]
    for i, b in enumerate(blocks):
        net.apply(pid(0), origin.start_request(KeyKind.CHK, b.routing_key, i, 0.0))
    assert len(origin.parked) == 3
    net.run()
    done = net.done(RequestDone)
    assert sorted(d.client_id for d in done) == [0, 1, 2, 3, 4]  # type: ignore[attr-defined]
    assert all(d.outcome is Outcome.FOUND for d in done)  # type: ignore[attr-defined]
    assert not net.sent(RejectedOverload)  # never more than the limit on the link
    assert not origin.parked and not origin.pending
    # First in, first out: the requests went out in the order they were made.
    firsts = [m.routing_key for a, _, m in net.sent(DataRequest) if a == pid(0)]
    assert firsts == [b.routing_key for b in blocks]


def test_a_parked_request_goes_to_a_peer_that_arrives_and_ends_at_its_deadline() -> None:
    net = line(2, config=Config(peer_in_flight_limit=1))
    fix_htl_links(net)
    origin = net.nodes[pid(0)]
    net.dead.add(pid(1))  # holds what it gets
    sends = []
    for i in range(3):
        acts = origin.start_request(KeyKind.CHK, key_at(0.3, salt=i), i, 0.0)
        sends.append(origin.block_looked_up(acts[0].token, None, 0.0))  # type: ignore[union-attr]
    assert isinstance(sends[0][0], Send)
    (wait_b,), (wait_c,) = sends[1], sends[2]
    assert isinstance(wait_b, SetTimer) and isinstance(wait_c, SetTimer)
    assert origin.timer(wait_b.token, wait_b.at - 1.0) == []  # still waiting
    # A second peer comes: the oldest parked request goes to it.
    net.add(2, 0.6)
    acts = origin.peer_connected(pid(2), pid(2), 0.6, 1.0)
    assert [(type(a), getattr(a, "peer", None)) for a in acts] == [(Send, pid(2)), (SetTimer, None)]
    assert acts[0].message.uid == wait_b.token  # type: ignore[union-attr]
    # The last one is still parked; at its deadline it ends, once.
    assert list(origin.parked) == [wait_c.token]
    assert origin.timer(wait_c.token, wait_c.at) == [
        RequestDone(client_id=2, outcome=Outcome.TIMED_OUT)
    ]
    assert not origin.parked and wait_c.token not in origin.pending
    assert origin.timer(wait_c.token, wait_c.at + 1.0) == []


def test_a_relay_with_every_peer_busy_answers_route_not_found_at_once() -> None:
    net = line(3, config=Config(peer_in_flight_limit=1))
    fix_htl_links(net)
    relay = net.nodes[pid(1)]
    a = relay.receive(pid(0), DataRequest(uid=1, kind=1, routing_key=key_at(0.9), htl=10), 0.0)
    a = relay.block_looked_up(a[0].token, None, 0.0)  # type: ignore[union-attr]
    assert isinstance(a[0], Send) and a[0].peer == pid(2)
    relay.peers.get(pid(0)).in_flight_in = 0  # type: ignore[union-attr]
    a = relay.receive(pid(0), DataRequest(uid=2, kind=1, routing_key=key_at(0.9), htl=10), 0.0)
    a = relay.block_looked_up(a[0].token, None, 0.0)  # type: ignore[union-attr]
    assert a == [Send(peer=pid(0), message=RouteNotFound(uid=2, htl=10, held=False))]
    assert not relay.parked


def test_requests_from_a_link_that_dropped_do_not_count_against_its_return() -> None:
    net = line(3, config=Config(peer_in_flight_limit=2))
    fix_htl_links(net)
    relay = net.nodes[pid(1)]
    for uid in (1, 2):
        a = relay.receive(pid(0), DataRequest(uid=uid, kind=1, routing_key=key_at(0.9), htl=9), 0.0)
        relay.block_looked_up(a[0].token, None, 0.0)  # type: ignore[union-attr]
    relay.peer_lost(pid(0), 0.5)
    relay.peer_connected(pid(0), pid(0), 0.0, 0.6)  # the same peer, back
    back = relay.peers.get(pid(0))
    assert back is not None and back.in_flight_in == 0
    # The old requests end (node 2 answers) and leave the new link's count alone.
    for uid in (1, 2):
        relay.receive(pid(2), DataNotFound(uid=uid), 0.7)
    assert back.in_flight_in == 0
    a = relay.receive(pid(0), DataRequest(uid=3, kind=1, routing_key=key_at(0.8), htl=9), 0.8)
    assert isinstance(a[0], LookupBlock) and back.in_flight_in == 1


def test_a_silent_peer_times_out_is_backed_off_and_the_request_moves_on() -> None:
    net = _star()
    net.dead.add(pid(1))  # node 1 swallows everything
    block = block_at(0.5)
    net.put(3, block)
    origin = net.nodes[pid(0)]
    net.apply(pid(0), origin.start_request(KeyKind.CHK, block.routing_key, 1, 0.0))
    timers = [
        r.action for r in net.log if isinstance(r.action, SetTimer) and r.action.token != FOAF_TOKEN
    ]
    cfg = origin.config
    assert timers[0].at == cfg.base_timeout + 17 * cfg.hop_timeout + cfg.reply_slack  # type: ignore[union-attr]
    net.run()
    assert net.done(RequestDone)[0].outcome is Outcome.FOUND  # type: ignore[union-attr]
    p1 = origin.peers.get(pid(1))
    assert p1 is not None and p1.backoff_len == cfg.backoff_initial and p1.in_flight_out == 0


def test_everyone_silent_ends_in_timeout_once() -> None:
    net = line(2)
    fix_htl_links(net)
    net.dead.add(pid(1))
    net.apply(pid(0), net.nodes[pid(0)].start_request(KeyKind.CHK, key_at(0.6), 1, 0.0))
    net.run()
    assert net.done(RequestDone) == [RequestDone(client_id=1, outcome=Outcome.ROUTE_NOT_FOUND)]


def test_garbage_from_a_peer_drops_it_and_the_request_backtracks() -> None:
    net = _star()
    origin = net.nodes[pid(0)]
    acts = origin.start_request(KeyKind.CHK, key_at(0.5), 1, 0.0)
    acts = origin.block_looked_up(acts[0].token, None, 0.0)  # type: ignore[union-attr]
    uid = acts[0].message.uid  # type: ignore[union-attr]
    wrong = DataFound(uid=uid, kind=1, routing_key=key_at(0.5, salt=1), data=b"x")
    acts = origin.receive(pid(1), wrong, 0.1)
    assert acts[0] == DropPeer(peer=pid(1))
    assert isinstance(acts[1], Send) and acts[1].peer == pid(2)
    assert pid(1) not in origin.peers


def test_a_reply_from_a_peer_we_do_not_wait_on_is_ignored() -> None:
    net = _star()
    origin = net.nodes[pid(0)]
    acts = origin.start_request(KeyKind.CHK, key_at(0.5), 1, 0.0)
    acts = origin.block_looked_up(acts[0].token, None, 0.0)  # type: ignore[union-attr]
    uid = acts[0].message.uid  # type: ignore[union-attr]
    assert origin.receive(pid(2), DataNotFound(uid=uid), 0.1) == []
    assert origin.receive(pid(2), DataNotFound(uid=uid + 1), 0.1) == []


def test_driver_misuse_is_a_local_error() -> None:
    net = line(2)
    with pytest.raises(LocalProtocolError):
        net.nodes[pid(0)].block_looked_up(12345, None, 0.0)
    with pytest.raises(LocalProtocolError):
        net.nodes[pid(0)].receive(
            b"stranger", DataRequest(uid=1, kind=1, routing_key=key_at(0.1), htl=3), 0.0
        )
    with pytest.raises(LocalProtocolError):
        net.nodes[pid(0)].peer_connected(pid(1), b"x", 0.5, 0.0)


def test_a_local_insert_of_an_invalid_block_never_leaves_the_node() -> None:
    node = Node(location=0.1, ref=b"me", rng=random.Random(1))  # the real verify
    node.peer_connected(b"p", b"p", 0.5, 0.0)
    good = insert_chk(b"content")[0]
    bad = Block(KeyKind.CHK, good.routing_key, good.data[:-1] + bytes([good.data[-1] ^ 1]))
    with pytest.raises(LocalProtocolError, match="invalid block"):
        node.start_insert(bad, 1, 0.0)
    assert not node.pending
    assert isinstance(node.start_insert(good, 2, 0.0)[0], LookupBlock)


def test_insert_ends_at_its_third_sink_and_the_path_before_caches() -> None:
    net = line(8, config=Config(max_htl=10, cache_max_htl=9), opennet=True)
    fix_htl_links(net)
    block = block_at(0.5)  # node 4 (0.5) is the closest node
    net.apply(pid(0), net.nodes[pid(0)].start_insert(block, 4, 0.0))
    net.run()
    assert net.done(InsertDone) == [InsertDone(client_id=4, outcome=Outcome.INSERTED)]
    # Node 4 is closer than any peer it could pass the insert to: a sink. It
    # keeps the block and passes it to its nearest untried peer, node 5, a sink
    # too, and node 6 is the third: it answers, and node 7 never sees it.
    offers = net.sent(Insert)
    assert [(a, b, m.htl, m.sinks) for a, b, m in offers] == [  # type: ignore[union-attr]
        (pid(0), pid(1), 9, 0),
        (pid(1), pid(2), 8, 0),
        (pid(2), pid(3), 7, 0),
        (pid(3), pid(4), 6, 0),
        (pid(4), pid(5), 5, 1),
        (pid(5), pid(6), 4, 2),
    ]
    assert [(a, b) for a, b, _ in net.sent(InsertReply)] == [
        (pid(6), pid(5)),
        (pid(5), pid(4)),
        (pid(4), pid(3)),
        (pid(3), pid(2)),
        (pid(2), pid(1)),
        (pid(1), pid(0)),
    ]
    areas = {w: s[block.routing_key][1] for w, s in net.stores.items() if block.routing_key in s}
    # The inserter keeps nothing; the path before the first sink caches.
    assert areas == {
        pid(1): Area.CACHE,
        pid(2): Area.CACHE,
        pid(3): Area.CACHE,
        pid(4): Area.STORE,
        pid(5): Area.STORE,
        pid(6): Area.STORE,
    }


@pytest.mark.parametrize(("opennet", "ends_at_sink"), [(True, False), (False, True)])
def test_insert_runs_its_full_course_off_the_sink_rule_or_on_a_darknet(
    opennet: bool, ends_at_sink: bool
) -> None:
    cfg = Config(max_htl=6, cache_max_htl=5, insert_sinks=3 if ends_at_sink else 0)
    net = line(5, config=cfg, opennet=opennet)
    fix_htl_links(net)
    block = block_at(0.6)
    net.apply(pid(0), net.nodes[pid(0)].start_insert(block, 4, 0.0))
    net.run()
    # A line runs out of nodes before the insert runs out of HTL: nodes keep the
    # block, so it is inserted (RouteNotFound carries ``held`` back).
    assert net.done(InsertDone) == [InsertDone(client_id=4, outcome=Outcome.INSERTED)]
    assert all(m.held for _, _, m in net.sent(RouteNotFound))  # type: ignore[union-attr]
    assert [htl for _, _, htl in _hops(net, Insert)] == [5, 4, 3, 2]
    areas = {w: s[block.routing_key][1] for w, s in net.stores.items() if block.routing_key in s}
    # Node 4, the end of the line, has no peer but the one that offered it the
    # insert: nothing it could pass it to is closer, so it stores too.
    assert areas == {pid(1): Area.CACHE, pid(2): Area.CACHE, pid(3): Area.STORE, pid(4): Area.STORE}


def _mesh(n: int, seed: int) -> MiniNet:
    net = MiniNet(seed=seed, opennet=True)
    rng = random.Random(seed)
    for i in range(n):
        net.add(i, rng.random())
    for a in range(n):
        for b in range(a + 1, n):
            net.link(a, b)
    return net


def test_in_a_small_mesh_an_insert_moves_its_block_a_few_times_and_loops_cost_no_block() -> None:
    # Six opennet nodes all linked to each other (a small test network): the insert goes
    # to the nearest reachable node, and a peer that refuses it (a loop) costs a
    # header, not 32 KiB. Every insert is then found from every other node.
    net = _mesh(6, seed=3)
    rng = random.Random(3)
    blocks = [block_at(rng.random(), data=b"%d" % i) for i in range(60)]
    for i, block in enumerate(blocks):
        net.apply(pid(0), net.nodes[pid(0)].start_insert(block, i, net.now))
        net.run()
    done = net.done(InsertDone)
    assert [d.outcome for d in done] == [Outcome.INSERTED] * len(blocks)  # type: ignore[union-attr]
    data_sends = net.sent(InsertData)
    offers = net.sent(Insert)
    accepted = net.sent(InsertAccepted)
    assert len(data_sends) == len(accepted) <= len(offers)
    # Three sinks of six nodes: fewer moves than the full course (5 per block).
    assert len(data_sends) < 4.5 * len(blocks)
    # Every block moved only after the receiver accepted it, once per accept.
    assert sorted((a, b, m.uid) for a, b, m in data_sends) == sorted(  # type: ignore[union-attr]
        (b, a, m.uid)  # type: ignore[union-attr]
        for a, b, m in accepted
    )
    for i, block in enumerate(blocks):
        asker = 1 + i % 5
        net.apply(
            pid(asker),
            net.nodes[pid(asker)].start_request(KeyKind.CHK, block.routing_key, 1000 + i, net.now),
        )
        net.run()
    found = [d for d in net.done(RequestDone) if d.client_id >= 1000]  # type: ignore[union-attr]
    assert [d.outcome for d in found] == [Outcome.FOUND] * len(blocks)  # type: ignore[union-attr]


def test_an_accepted_insert_whose_block_never_comes_is_forgotten_quietly() -> None:
    net = line(3)
    relay = net.nodes[pid(1)]
    offer = Insert(uid=77, kind=1, routing_key=key_at(0.9), htl=10)
    acts = relay.receive(pid(0), offer, 0.0)
    assert acts[0] == Send(peer=pid(0), message=InsertAccepted(uid=77))
    assert isinstance(acts[1], SetTimer) and acts[1].at == relay.config.hop_timeout
    assert relay.timer(77, acts[1].at - 0.5) == []
    assert relay.timer(77, acts[1].at) == []
    assert 77 not in relay.pending
    assert relay.peers.get(pid(0)).in_flight_in == 0  # type: ignore[union-attr]
    # The block turning up late is ignored, and so is a second offer (a loop).
    assert relay.receive(pid(0), InsertData(uid=77, data=b"late"), 5.0) == []
    assert relay.receive(pid(0), offer, 5.0) == [Send(peer=pid(0), message=RejectedLoop(uid=77))]


def test_insert_data_that_fails_verification_drops_the_sender_and_forgets_the_insert() -> None:
    def strict(block: Block) -> None:
        if block.data != b"good":
            raise InvalidBlock("bad block")

    net = line(3)
    relay = net.nodes[pid(1)]
    relay.verify = strict
    relay.receive(pid(0), Insert(uid=5, kind=1, routing_key=key_at(0.9), htl=10), 0.0)
    # Only the peer that offered it may send the block.
    assert relay.receive(pid(2), InsertData(uid=5, data=b"bad"), 0.1) == []
    acts = relay.receive(pid(0), InsertData(uid=5, data=b"bad"), 0.1)
    assert acts[0] == DropPeer(peer=pid(0))
    assert 5 not in relay.pending and pid(0) not in relay.peers


def test_an_insert_waiting_for_its_block_ends_when_the_offering_peer_goes() -> None:
    net = line(3)
    relay = net.nodes[pid(1)]
    relay.receive(pid(0), Insert(uid=9, kind=1, routing_key=key_at(0.9), htl=10), 0.0)
    assert relay.peer_lost(pid(0), 0.5) == []
    assert 9 not in relay.pending


def test_the_block_goes_once_even_if_the_peer_accepts_twice() -> None:
    net = line(2)
    origin = net.nodes[pid(0)]
    block = block_at(0.9)
    acts = origin.start_insert(block, 1, 0.0)
    acts = origin.block_looked_up(acts[0].token, None, 0.0)  # type: ignore[union-attr]
    uid = acts[0].message.uid  # type: ignore[union-attr]
    assert origin.receive(pid(1), InsertAccepted(uid=uid), 0.1) == [
        Send(peer=pid(1), message=InsertData(uid=uid, data=block.data))
    ]
    assert origin.receive(pid(1), InsertAccepted(uid=uid), 0.2) == []
    # Accepting a request is garbage: the peer is dropped.
    acts = origin.start_request(KeyKind.CHK, key_at(0.3), 2, 0.3)
    acts = origin.block_looked_up(acts[0].token, None, 0.3)  # type: ignore[union-attr]
    ruid = acts[0].message.uid  # type: ignore[union-attr]
    assert origin.receive(pid(1), InsertAccepted(uid=ruid), 0.4)[0] == DropPeer(peer=pid(1))


def test_insert_into_a_network_smaller_than_htl_is_inserted_and_found() -> None:
    # Three nodes, HTL 18: every hop sees HTL > cache_max_htl, nobody is closer
    # than all its peers except maybe one; the sink of the path keeps the block.
    for dec in (True, False):
        net = line(3)
        fix_htl_links(net, dec_at_max=dec)
        block = block_at(0.1)  # nearest to node 0, the inserter, which keeps nothing
        net.apply(pid(0), net.nodes[pid(0)].start_insert(block, 1, 0.0))
        net.run()
        assert net.done(InsertDone) == [InsertDone(client_id=1, outcome=Outcome.INSERTED)]
        holders = [w for w, s in net.stores.items() if block.routing_key in s]
        assert holders and pid(0) not in holders
        net.apply(pid(0), net.nodes[pid(0)].start_request(KeyKind.CHK, block.routing_key, 2, 1.0))
        net.run()
        assert net.done(RequestDone)[-1].outcome is Outcome.FOUND  # type: ignore[union-attr]


def test_insert_that_no_peer_accepts_is_route_not_found() -> None:
    lone = MiniNet()
    lone.add(0, 0.5)
    lone.apply(pid(0), lone.nodes[pid(0)].start_insert(block_at(0.3), 1, 0.0))
    lone.run()
    assert lone.done(InsertDone) == [InsertDone(client_id=1, outcome=Outcome.ROUTE_NOT_FOUND)]
    # The only peer rejects it (overloaded): nobody holds it.
    net = line(2)
    origin = net.nodes[pid(0)]
    acts = origin.start_insert(block_at(0.3), 2, 0.0)
    acts = origin.block_looked_up(acts[0].token, None, 0.0)  # type: ignore[union-attr]
    uid = acts[0].message.uid  # type: ignore[union-attr]
    assert origin.receive(pid(1), RejectedOverload(uid=uid), 0.1) == [
        InsertDone(client_id=2, outcome=Outcome.ROUTE_NOT_FOUND)
    ]


def test_insert_ends_with_insert_reply_when_htl_runs_out() -> None:
    net = line(5, config=Config(max_htl=3, insert_sinks=0))
    fix_htl_links(net)
    net.apply(pid(0), net.nodes[pid(0)].start_insert(block_at(0.9), 4, 0.0))
    net.run()
    assert [(a, b) for a, b, _ in net.sent(InsertReply)] == [(pid(2), pid(1)), (pid(1), pid(0))]
    assert net.done(InsertDone) == [InsertDone(client_id=4, outcome=Outcome.INSERTED)]


def test_ssk_insert_collision_returns_the_existing_block() -> None:
    net = line(3)
    fix_htl_links(net)
    old = block_at(0.6, b"old", KeyKind.SSK)
    new = dataclasses.replace(old, data=b"new")
    net.put(2, old)
    net.apply(pid(0), net.nodes[pid(0)].start_insert(new, 3, 0.0))
    net.run()
    assert net.done(InsertDone) == [
        InsertDone(client_id=3, outcome=Outcome.COLLISION, existing=old)
    ]
    assert net.stores[pid(2)][old.routing_key][0] == old


def test_same_ssk_again_is_not_a_collision() -> None:
    net = line(3)
    old = block_at(0.6, b"same", KeyKind.SSK)
    net.put(2, old)
    net.apply(pid(0), net.nodes[pid(0)].start_insert(old, 3, 0.0))
    net.run()
    assert net.done(InsertDone)[0].outcome is not Outcome.COLLISION  # type: ignore[union-attr]


def test_path_folding_offers_the_source_and_hops_may_hide_it() -> None:
    net = MiniNet(opennet=True)
    for i in range(4):
        net.add(i, i / 4)
    for i in range(3):
        net.link(i, i + 1)
    fix_htl_links(net)
    block = block_at(0.75)
    net.put(3, block)
    net.apply(pid(0), net.nodes[pid(0)].start_request(KeyKind.CHK, block.routing_key, 1, 0.0))
    net.run()
    found = net.sent(DataFound)
    assert found[0][2].fold == FoldRef(ref=pid(3), location=0.75)  # type: ignore[union-attr]
    # Node 2 already peers with 3 and passes the reference on; node 1 has room,
    # takes it and puts its own in its place, which the origin already knows.
    assert found[1][2].fold == FoldRef(ref=pid(3), location=0.75)  # type: ignore[union-attr]
    assert found[2][2].fold == FoldRef(ref=pid(1), location=0.25)  # type: ignore[union-attr]
    connects = [(r.node, r.action) for r in net.log if isinstance(r.action, ConnectTo)]
    assert connects == [(pid(1), ConnectTo(ref=pid(3), location=0.75))]
    assert pid(3) in net.nodes[pid(1)].peers


def test_full_tables_drop_the_least_useful_unprotected_peer() -> None:
    cfg = Config(max_peers=3, long_link_share=0.34, min_peer_age=0.0, short_links_protected=1)
    net = MiniNet(opennet=True, config=cfg)
    net.add(0, 0.0)
    for i, loc in enumerate([0.1, 0.2, 0.5, 0.3], start=1):
        net.add(i, loc)
    for i in (1, 2, 3):
        net.link(0, i)
    net.nodes[pid(0)].peers.get(pid(1)).last_useful = 5.0  # type: ignore[union-attr]
    net.nodes[pid(0)].peers.get(pid(2)).last_useful = 1.0  # type: ignore[union-attr]
    net.nodes[pid(0)].peers.get(pid(3)).last_useful = 0.0  # type: ignore[union-attr]
    net.now = 10.0
    net.link(0, 4)
    drops = [r.action for r in net.log if isinstance(r.action, DropPeer)]
    # Node 3 (at 0.5) is least useful but the longest link, node 1 the shortest:
    # of the others node 2 has been useless the longest and goes.
    assert drops == [DropPeer(peer=pid(2))]
    assert pid(0) not in net.nodes[pid(2)].peers


def test_announcement_gathers_offers_and_connects() -> None:
    net = MiniNet(opennet=True)
    for i in range(6):
        net.add(i, i / 6)
    for i in range(4):
        net.link(i, i + 1)  # 0..4 in a line; 5 is new
    net.link(5, 0)
    net.apply(pid(5), net.nodes[pid(5)].start_announce(11, 0.0))
    net.run()
    done = net.done(AnnounceDone)
    assert len(done) == 1 and done[0].client_id == 11  # type: ignore[union-attr]
    assert done[0].offers >= 2  # type: ignore[union-attr]
    assert len(net.nodes[pid(5)].peers) == 1 + done[0].offers  # type: ignore[union-attr]


def test_no_reply_names_its_origin() -> None:
    """With every hop resetting the reference, the requester learns only its neighbour."""
    net = MiniNet(opennet=True, config=Config(fold_reset_probability=1.0, max_peers=1))
    for i in range(4):
        net.add(i, i / 4)
    for i in range(3):
        net.link(i, i + 1)
    net.put(3, block_at(0.75))
    net.apply(pid(0), net.nodes[pid(0)].start_request(KeyKind.CHK, key_at(0.75), 1, 0.0))
    net.run()
    for sender, _, msg in net.sent(DataFound):
        assert msg.fold is not None and msg.fold.ref == sender  # type: ignore[union-attr]


def test_peer_loss_backtracks_waiting_requests() -> None:
    net = _star()
    origin = net.nodes[pid(0)]
    acts = origin.start_request(KeyKind.CHK, key_at(0.5), 1, 0.0)
    acts = origin.block_looked_up(acts[0].token, None, 0.0)  # type: ignore[union-attr]
    assert acts[0].peer == pid(1)  # type: ignore[union-attr]
    acts = origin.peer_lost(pid(1), 0.2)
    assert isinstance(acts[0], Send) and acts[0].peer == pid(2)
    assert origin.peer_lost(pid(1), 0.3) == []


def test_block_for_another_key_from_the_store_is_a_local_error() -> None:
    net = line(2)
    origin = net.nodes[pid(0)]
    acts = origin.start_request(KeyKind.CHK, key_at(0.5), 1, 0.0)
    with pytest.raises(LocalProtocolError):
        origin.block_looked_up(acts[0].token, Block(KeyKind.CHK, key_at(0.2), b""), 0.0)  # type: ignore[union-attr]


def test_a_relay_holding_max_htl_passes_the_request_on_and_answers_only_if_it_fails() -> None:
    # Node 1 has the block but receives the request at max HTL (no link
    # decrements at max): answering would end the chain of max holders, which
    # tells its neighbour more about who asked. It forwards; node 2's answer
    # comes back. When nothing downstream has it, node 1 answers after all.
    for downstream_has_it in (True, False):
        net = line(3, config=Config(max_htl=5))
        fix_htl_links(net, dec_at_max=False)
        block = block_at(0.9)
        net.put(1, block)
        if downstream_has_it:
            net.put(2, block)
        net.apply(pid(0), net.nodes[pid(0)].start_request(KeyKind.CHK, block.routing_key, 1, 0.0))
        net.run()
        assert _hops(net, DataRequest)[:2] == [(pid(0), pid(1), 5), (pid(1), pid(2), 5)]
        assert net.done(RequestDone) == [
            RequestDone(client_id=1, outcome=Outcome.FOUND, block=block)
        ]
        assert [(a, b) for a, b, _ in net.sent(DataFound)][-1] == (pid(1), pid(0))
        assert not any(n.pending for n in net.nodes.values())


def test_a_relay_below_max_or_with_no_other_peer_answers_at_once() -> None:
    net = line(3, config=Config(max_htl=5))
    fix_htl_links(net, dec_at_max=True)  # node 1 receives HTL 4
    block = block_at(0.9)
    net.put(1, block)
    net.apply(pid(0), net.nodes[pid(0)].start_request(KeyKind.CHK, block.routing_key, 1, 0.0))
    net.run()
    assert _hops(net, DataRequest) == [(pid(0), pid(1), 4)]
    # With answer_at_max on (the old rule), or a relay whose only peer is the
    # requester, the relay holding max answers from its store.
    for cfg, n in ((Config(max_htl=5, answer_at_max=True), 3), (Config(max_htl=5), 2)):
        net = line(n, config=cfg)
        fix_htl_links(net, dec_at_max=False)
        net.put(1, block)
        net.apply(pid(0), net.nodes[pid(0)].start_request(KeyKind.CHK, block.routing_key, 2, 0.0))
        net.run()
        assert _hops(net, DataRequest) == [(pid(0), pid(1), 5)]
        assert net.done(RequestDone)[0].outcome is Outcome.FOUND  # type: ignore[union-attr]

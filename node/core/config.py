"""The routing core's tunable constants, each with the reason for its value.

Every number the core uses lives here, in one frozen :class:`Config` that a node
is built with; production uses the defaults and the simulator and tests may
shrink some of them. ``specs/routing.md`` repeats this table.
"""

from dataclasses import dataclass

MAX_HTL = 18
"""Hops-to-live of a fresh request: Freenet's long-standing default. Greedy routing in
a small world of ~10^5 nodes needs ~log² n / degree hops; 18 leaves room to backtrack."""

UID_BITS = 64
"""Request ids are random 64-bit numbers: collisions between unrelated requests
in flight at one node are negligible (birthday bound ~2^32 concurrent requests)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Tunables of one node. Defaults are the production values."""

    max_htl: int = MAX_HTL
    """See :data:`MAX_HTL`."""

    p_decrement_at_max: float = 0.5
    """Chance (per peer link, decided once) that a request at max HTL is decremented
    when sent over that link. Because the originator applies the same rule, a peer
    seeing HTL 18 or 17 cannot tell whether we originated the request."""

    answer_at_max: bool = False
    """Whether a relay still holding max HTL answers a request from its own store.
    It does not (it passes the request on, and answers with its copy only if
    everything downstream fails): a relay that answered would end the chain of
    max-HTL holders early, and a neighbour seeing max HTL could then bet on the
    originator more safely (bench/resilience/adversary.py, 10,000 nodes, 3
    networks: "my peer held max" right 50.8 % [50.5–51.2] of the time when
    relays answer, 50.1 % [49.7–50.5] when they do not), for 1 % more messages."""

    p_decrement_at_one: float = 0.25
    """Chance (per link, once) that a request at HTL 1 ends instead of going one more
    hop: the tail has a random length, so DataNotFound does not reveal how far away
    the requester was."""

    random_at_max: bool = True
    """While a request or insert still holds the maximum HTL, it goes to a random
    peer rather than the closest. Greedy routing picks relays *because* they are
    near the key, so without this a neighbour that sees a request from a peer far
    from the key can guess that the peer originated it (the adversary
    measurement in bench/resilience put that guess at 83% precision). Random
    hops at max HTL make the first relays as unrelated to the key as the
    originator; the price is about one extra hop per request."""

    cache_max_htl: int = MAX_HTL - 2
    """Return-path caching happens only at nodes that received the request with HTL
    at most this. The first hops from the originator (which see 18 or 17) do not
    cache, so a neighbour's cache does not show what its peer asked for, and the
    originator never caches its own requests."""

    insert_sinks: int = 3
    """An insert ends at the third *sink* of its greedy walk: a node closer to the
    key than every peer it could still pass it to keeps it in its store and
    passes it on to that nearest peer, until three have (``Insert.sinks``
    counts them). That is where greedy requests for the key end too, and three
    holders survive one or two of them being down or hostile (the hostile
    testnet, 20 % of nodes misbehaving: with one holder, a file whose top
    metadata block, which has no FEC around it, sat on a black hole was lost).
    Walking on until HTL runs out (Freenet's way) stores the block at up to 18
    nodes, most of which no request will reach: with FEC's 100% redundancy
    above it and caching on every successful fetch, that spends network and
    disk several times over for little. 0: inserts run their full HTL.

    Opennet only: path folding keeps an opennet a clean small world in which
    greedy routing from anywhere ends at the same few nodes nearest a key. A
    darknet's links are its owners' friendships and its locations are only as
    ordered as swapping has made them, so it has many local minima; an insert
    that stopped at the first would leave the block where most requests never
    look (300 simulated nodes: 79% success instead of 90%+), so there inserts
    spread over their whole HTL."""

    max_attempts: int = 6
    """Peers one node tries for one request before answering RouteNotFound.
    Backtracking is for stepping around a dead end or an overloaded peer; without
    a cap, a request that meets loops probes every peer of every node it visits
    (RejectedLoop costs no HTL) and one failing request costs hundreds of messages."""

    hop_timeout: float = 2.0
    """Seconds of budget per HTL for a request at a node: a node holding HTL h
    answers within ``base_timeout + h * hop_timeout``. Budgets shrink with HTL, so a
    downstream node always answers (maybe with a failure) before its upstream gives
    up on it, and every wait is bounded."""

    base_timeout: float = 5.0
    """Fixed part of the per-node budget: covers link latency and local lookups."""

    reply_slack: float = 2.0
    """Extra seconds an upstream waits beyond its downstream's budget before
    declaring it dead: two link traversals plus scheduling jitter."""

    max_peers: int = 40
    """Opennet peer table size. Freenet uses 20-100 by bandwidth; 40 gives ~5 hop
    routes in 10^4 nodes and keeps 10^5 simulated nodes within memory."""

    long_link_share: float = 0.25
    """Share of the peer table kept for the longest links: they are never the ones
    dropped for a new path-folding peer, so the small world keeps its shortcuts."""

    short_links_protected: int = 4
    """The nearest peers (by location) are never dropped for a newcomer either:
    they are what lets greedy routing take the last hops to the node closest to
    a key. Without them an opennet drifts into local minima where inserts and
    requests for the same key end at different nodes."""

    fold_reset_probability: float = 0.05
    """Chance that a hop forwarding DataFound replaces the path-folding reference
    with its own even when it does not connect: the origin of data stays hidden
    (the reference names *a* node on the path, not necessarily the source)."""

    fold_accept_probability: float = 0.5
    """Chance that a node with at least ``min_peers`` peers takes a path-folding
    reference or offers itself to an announcement (dropping its least useful
    peer if its table is full). Below 1 so that tables churn gently and useful
    peers survive; the same whether the table is full or not, so that the
    answer does not tell a probing neighbour whether we have room."""

    min_peers: int = 10
    """An opennet node left with fewer peers than this announces again (at most
    once per ``announce_interval``): losing peers to churn or to other nodes'
    drops must not strand it."""

    announce_interval: float = 60.0
    """Seconds between automatic re-announcements."""

    recent_uids: int = 256
    """Completed request ids remembered for loop rejection: a request that
    backtracks into a node it already left is rejected instead of re-exploring
    the same neighbourhood (Freenet's "recently completed" list). 256 covers the
    requests a node completes within one request lifetime under normal load."""

    min_peer_age: float = 30.0
    """Seconds a new peer is immune to being dropped: it must get a chance to be
    useful before the least-useful rule judges it."""

    peer_in_flight_limit: int = 24
    """Requests we accept concurrently from one peer; beyond it we send
    RejectedOverload. Also the most we send to one peer at once (sender side)."""

    node_in_flight_limit: int = 400
    """Requests a node handles concurrently in total before rejecting new ones."""

    backoff_initial: float = 1.0
    """Seconds of the first back-off after a peer rejects us or times out."""

    backoff_max: float = 180.0
    """Ceiling of the exponential back-off: a peer is retried at least every 3 min."""

    failure_table_ttl: float = 60.0
    """Seconds a key that just failed here is quenched: repeated requests for data
    that is not there get DataNotFound at once instead of flooding the network."""

    failure_table_size: int = 2000
    """Entries kept in the failure table; the oldest are evicted first."""

    swap_htl: int = 10
    """Length of the random walk a swap request takes (Freenet's value): long
    enough to reach a node that is not a near neighbour, so swaps can fix
    large-scale disorder."""

    swap_timeout: float = 30.0
    """Seconds the initiator of a swap waits for the reply (relays wait a share
    of it that shrinks along the walk, so the downstream gives up first)."""

    swap_commit_timeout: float = 30.0
    """Seconds the initiator keeps repeating SwapCommit after it took the
    endpoint's location and before SwapComplete comes back. The endpoint and
    the relays keep the walk's state for ``swap_timeout + 2 * swap_commit_timeout``
    after the reply, so every repeat finds the path: a lost message (or a link
    that drops and comes back within the window) costs a repeat, not a
    duplicated location."""

    swap_retry_interval: float = 5.0
    """Seconds between repeats of SwapCommit: links are reliable while up, so a
    repeat is only for a link that dropped and came back, or a slow path."""

    anneal_walks: int = 1000
    """Swap walks over which a darknet node anneals (simulated annealing: a swap
    that makes links longer is accepted with its ratio raised to β, which rises
    linearly from ``anneal_beta0`` to ``anneal_beta1``; after the last annealed
    walk β is 1, Sandberg's rule). From random locations Sandberg's rule alone
    leaves strays that it heals far too slowly (a 10,000-node darknet routes
    30–40 % of requests after 240 walks per node); a network that starts hot
    and cools orders itself (``specs/routing.md`` §8). Each swap uses the colder
    (larger) of its two ends' β, carried in ``swap_request`` and ``swap_reply``
    so both ends decide alike; a node joining an ordered network meets cold
    partners and cannot disorder it. 0 means Sandberg's rule from the start.
    The runtime keeps the count across restarts (``state.toml``)."""

    anneal_beta0: float = 0.2
    """β of a node's first swap walk (see ``anneal_walks``)."""

    anneal_beta1: float = 0.6
    """β of a node's last annealed walk; the next one uses Sandberg's rule (β 1).
    The network orders itself while β is between about 0.2 and 0.6 and is
    frozen above: cooling on to 1 over the same 1000 walks spends half of them
    frozen (10,000-node bare-chain model, two seeds, routed through the core:
    95.3 / 89.7 % success cooling to 1, 99.2 / 98.3 % cooling to 0.6; 0.1 or
    0.35 to start was worse than 0.2). Through the real core at 10,000 nodes,
    1050 walks each: 98.7 % success, median 5 hops (ideal 100 %, 5)."""

    max_swap_peers: int = 64
    """Most neighbour locations carried in a swap message (bounds its size)."""

    foaf_routing: bool = True
    """Darknet nodes rank each peer by the nearest of its own location and its
    peers' locations (Freenet's friend-of-a-friend routing): a darknet cannot
    choose its links, and while swapping leaves locations partly disordered a
    greedy hop that only sees its own peers stops at a local minimum far more
    often than one that sees two hops (10,000 nodes after 240 swap walks per
    node, in a bare-chain model: 2.7 % of greedy walks reach the node nearest a
    key seeing one hop, 12.9 % seeing two; through the real core after 60
    walks, 27.6 % of requests succeed seeing one hop, 48.9 % seeing two:
    ``specs/routing.md`` §8).
    Opennet nodes choose their links by location (path folding), so one hop of
    view is already good there, and their tables change too often to keep
    every peer told. Each peer learns our peers' locations: Freenet tells them
    too, and a darknet peer knows who we are anyway."""

    foaf_delay: float = 30.0
    """Seconds a darknet node waits after its peers' locations change (a swap
    next door, a friend coming or going) before it tells its peers: every
    change within the wait goes out in one ``location_update`` per peer, so a
    node sends at most one per peer per 30 s whatever the swap rate."""

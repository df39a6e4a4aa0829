"""The node runtime: drives the sans-I/O routing core with real links, timers and the datastore.

Theory of operation
-------------------
One :class:`NodeRuntime` is one running node. Everything it owns lives in one
anyio task group opened by :meth:`NodeRuntime.run`: the listener, one reader
and one writer task per peer link, the timer task, the housekeeping task, and a
short task for each datastore call. Cancelling ``run`` stops all of them, closes
every link and the store, and saves the node's state.

The routing decisions are all made by :class:`node.core.Node`. The runtime only
turns events into core calls (a message arrived, a timer came due, a lookup
finished, a link came up or went down) and carries out the actions the core
returns (:meth:`_apply`). Core calls are synchronous and happen on the event
loop thread, so the core needs no lock. Its clock is the event loop's
(``anyio.current_time()``).

Datastore work is batched, because a trip to a worker thread costs far more
than the probe it carries (~100 µs of CPU against a few µs):

- A ``LookupBlock`` is answered at once, without a thread hop, for a key the
  store's presence index rules out (nearly every lookup at a relay), for a
  block still being written, and for a block whose record the store can read
  without waiting (``get_nowait``: its slot's bytes are in the page cache and
  no commit holds the store; nearly every hit on a busy node). The answer is
  fed to the core after the action list that asked for it has been carried
  out, as if it had come back later, so the core sees actions carried out in
  the order it returned them.
- The other lookups (the record needs a disk read or SQLite, or a commit is
  running) go to the datastore's lookup thread
  (:mod:`node.net.lookups`), which reads every lookup queued meanwhile in one
  ``get_many`` and hands the answers back with ``call_soon_threadsafe``.
- ``StoreBlock`` (fire and forget) is gathered per area and handed to the
  store's writer in one ``put_soon`` per area: no thread hop, no task; the
  writer verifies, seals and group-commits it with whatever else is queued.
  Blocks for either area wait up to :data:`WRITE_DELAY` for more to share
  their commit (a commit costs a thread wake-up each way, about as much as
  the blocks it writes). Until the commit, the block is in ``_writing``,
  where lookups find it. Once :data:`MAX_UNWRITTEN` blocks wait there (a
  disk slower than the links), blocks are not cached and inserts are
  refused until the writer catches up.

Messages from a peer are handled as their bytes arrive, in the link's
transport callback (:meth:`Link.deliver`): no task is woken per message (the
link's reader task only waits for the link to end). Sends are sealed straight
onto the links (:meth:`Link.send_now`), without a task in between, and
flushed, one write per link, once an action list has been carried out; the
messages of one read defer their stores and their flush until all of them
have been handled, so a burst goes on as one write and wakes the next node
once. Local clients (fetches, inserts) flush at the end of the loop
turn instead, after every client woken in it has started its request. Only a
link with an upload limit has its messages queued for a writer task, which
waits for the limiter.

Links (:mod:`node.net.link`) are encrypted and mutually authenticated. After the
handshake each side sends a :class:`LinkHello` carrying its signed node
reference; the first message must be that, and it must name the identity the
handshake authenticated. Two links to one peer (both dialled at once) are
resolved the same way on both sides: the link dialled by the smaller identity
stays.

Local clients (the client layer, tests, benchmarks) use :meth:`fetch` and
:meth:`insert`, which wait for the core's ``RequestDone``/``InsertDone``.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import anyio
import anyio.abc
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from crypto.blocks import Block, KeyKind, verify_block
from crypto.encoding import b64encode
from node.core import (
    Action,
    AnnounceDone,
    Area,
    ConnectTo,
    DropPeer,
    InsertDone,
    LocationChanged,
    LookupBlock,
    Node,
    Outcome,
    RequestDone,
    Send,
    SetTimer,
    StoreBlock,
)
from node.core.messages import MESSAGE_TYPES, Insert, Message, RejectedOverload
from node.net.bandwidth import BandwidthLimiter
from node.net.datadir import DataDir
from node.net.identity import NodeIdentity
from node.net.link import FaultCounter, Link, LinkError, connect, default_backoff, serve
from node.net.lookups import LookupThread
from node.net.misbehave import Misbehaviour
from node.net.noderef import (
    NodeRefError,
    SignedNodeRef,
    make_noderef,
    parse_noderef,
    parse_noderef_bytes,
)
from node.net.settings import NodeSettings
from node.wire.codec import Codec
from node.wire.errors import LocalProtocolError
from store import Area as StoreArea
from store import (
    AsyncBlockStore,
    PutResult,
    RejectedBlock,
    StoreConfig,
    StoreError,
    Synchronous,
    WouldBlock,
)

log = logging.getLogger("samizdat.node")

OUTBOX_SIZE = 512
"""Messages queued for one peer before we call it stuck and drop the link: far
more than the core's per-peer in-flight limit, so only a peer that stopped
reading ever reaches it. (Only links with an upload limit queue messages;
the others hand them straight to the socket and are watched by MAX_BACKLOG.)"""

MAX_BACKLOG = OUTBOX_SIZE * 32 * 1024
"""Bytes a link may hold unsent (16 MiB: 512 block messages) before we call the
peer stuck and drop the link, as with a full outbox."""

TIMER_GRANULARITY = 0.05
"""Seconds the timer task waits at least before firing due timers: every timer due
meanwhile fires in one wake-up. The core's waits are seconds long (a hop's timeout
is 2 s), and a timer fires "at ``at`` or later" by contract."""

WRITE_BATCH = 16
"""Most queued messages the writer joins into one socket write: 16 block
messages are ~512 KiB, so a backlog costs one write without one huge buffer."""

WRITE_DELAY = 0.05
"""Seconds a block to keep (in the store or the cache area) may wait to share a
group commit with those after it. A group commit costs about as much per commit
(a thread wake-up each way, a transaction) as per block: in the six-node insert
bench a commit per inserted block was a fifth of a relay's CPU. Nothing waits
for the commit: the core has already replied (an insert's ``InsertReply`` never
promised a commit, only that this node keeps the block), the block is passed on
at once, and lookups find it in memory meanwhile. Stopping the node writes what
waits; only a crash within this window loses it, as a crash before the commit
always could."""

WRITE_BATCH_BLOCKS = 64
"""Blocks waiting (2 MiB) after which they go to the writer without waiting."""

MAX_UNWRITTEN = 2048
"""Blocks handed to the datastore and not yet committed (64 MiB at most) beyond
which the node caches no more blocks and refuses inserts (``RejectedOverload``:
they route elsewhere) until its writer has caught up. A disk slower than the
links must not fill the memory with blocks waiting to be written."""

MAX_FAULTS = 3
"""Protocol or crypto failures from one identity before it is shunned."""

SHUN_SECONDS = 3600.0
"""How long a shunned identity is refused and not dialled."""

STORE_FAILING_SECONDS = 60.0
"""After a datastore write fails (a full disk), inserts from peers are refused
this long: accepting them would acknowledge blocks we cannot keep."""

REF_MAX_AGE = 365 * 86400.0
"""Node references older than a year are refused: addresses go stale."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkHello:
    """The first message on every link: the sender's signed node reference."""

    TYPE: ClassVar[str] = "link_hello"
    ref: bytes = field(metadata={"max": 4096})
    clock: int = field(default=0, metadata={"min": 0, "max": 2**40})
    """The sender's Unix time in seconds: lets a node notice that its clock is off
    (noderefs carry issue times, so a skewed clock makes friends refuse them)."""


REGISTRY: dict[str, type] = {**MESSAGE_TYPES, LinkHello.TYPE: LinkHello}


@dataclass(frozen=True, slots=True)
class FetchResult:
    """How a local fetch ended: ``block`` is set iff ``outcome`` is FOUND."""

    outcome: Outcome
    block: Block | None = None


@dataclass(frozen=True, slots=True)
class InsertResult:
    """How a local insert ended: ``existing`` is the other block on a COLLISION."""

    outcome: Outcome
    existing: Block | None = None


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """What the node tells its user about one peer (no address at default log level)."""

    identity: str
    location: float
    connected_for: float
    inbound: bool
    friend: bool


@dataclass(frozen=True, slots=True)
class NodeStatus:
    identity: str
    location: float
    opennet: bool
    listen_port: int
    peers: tuple[PeerInfo, ...]
    store_blocks: int
    store_bytes: int
    store_limit: int
    cache_blocks: int
    cache_bytes: int
    cache_limit: int
    messages_in: int
    messages_out: int
    bytes_in: int
    bytes_out: int
    clock_skew: float
    """Median of connected peers' clocks minus ours (seconds); 0 with no peers."""
    uptime: float


class _PeerConn:
    """One live link to a peer, with its outbox and the tasks that serve it."""

    __slots__ = ("connected_at", "inbound", "link", "outbox", "ref", "scope")

    def __init__(
        self,
        link: Link,
        ref: SignedNodeRef,
        inbound: bool,
        outbox: MemoryObjectSendStream[object],
        now: float,
    ) -> None:
        self.link = link
        self.ref = ref
        self.inbound = inbound
        self.outbox = outbox
        self.scope = anyio.CancelScope()
        self.connected_at = now


_Done = RequestDone | InsertDone | AnnounceDone


class NodeRuntime:
    """A running node. Build it, then ``await run()`` inside a task group."""

    def __init__(self, settings: NodeSettings, *, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.rng = rng if rng is not None else random.SystemRandom()
        self.datadir = DataDir.open(settings.data_dir)
        self.identity: NodeIdentity = self.datadir.identity()
        self.peer_id = self.identity.public_key
        self.codec = Codec(REGISTRY)
        self.faults = FaultCounter()
        self.upload = BandwidthLimiter(settings.upload_limit)
        self.download = BandwidthLimiter(settings.download_limit)
        state = self.datadir.read_state()
        loc = state.get("location")
        self.location = float(loc) if isinstance(loc, float) and 0 <= loc < 1 else self.rng.random()
        walks = state.get("swap_walks")
        # Swap walks this node has started (its annealing schedule, Config.anneal_walks):
        # kept across restarts, or a darknet that restarts together anneals hot again.
        self._swap_walks = walks if type(walks) is int and walks >= 0 else 0
        port = state.get("listen_port")
        self.listen_port = (
            settings.listen_port
            if settings.listen_port is not None
            else (int(port) if isinstance(port, int) else 0)
        )
        self.store: AsyncBlockStore | None = None
        self.core: Node | None = None
        self.ref: SignedNodeRef | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._conns: dict[bytes, _PeerConn] = {}
        self._dialling: set[bytes] = set()
        self._friends: dict[bytes, SignedNodeRef] = {}
        self._redial_at: dict[bytes, tuple[float, int]] = {}
        self._shunned: dict[bytes, float] = {}
        self._timers: list[tuple[float, int]] = []
        self._timer_wake = anyio.Event()
        self._waiters: dict[int, asyncio.Future[_Done]] = {}  # a local client's, by its id
        self._writing: dict[bytes, Block] = {}
        self._answers: list[tuple[LookupBlock, Block | None]] = []  # answered, not yet fed back
        self._lookup_thread: LookupThread[LookupBlock] | None = None  # while the store is open
        # Blocks waiting to share a commit, by area and by whether the core has
        # just verified them (see _verify).
        self._to_store: dict[tuple[StoreArea, bool], list[Block]] = {}
        self._to_store_count = 0  # blocks in _to_store
        # Blocks the core verified during the core call being carried out, by id
        # (the block is held, so its id stays its own): emptied after each _apply.
        self._verified: dict[int, Block] = {}
        self._write_timer: asyncio.TimerHandle | None = None  # hands _to_store to the writer
        self._unflushed: set[_PeerConn] = set()  # links with sealed messages not yet written
        self._flush_soon = False  # a _flush_links is scheduled for the end of this loop turn
        self._clients_woken = False  # a local client was answered since the last _read_all
        self._clock: Callable[[], float] = anyio.current_time  # the event loop's, once running
        self._client_ids = itertools.count(1)
        self._peers_mtime = 0.0
        self._opennet_saved: frozenset[bytes] = frozenset()
        self._started = 0.0
        self.messages_in = 0
        self.messages_out = 0
        self._clock_offsets: dict[bytes, float] = {}  # peer's clock minus ours, at hello
        self._bytes_in = 0  # of links that have closed; live links count their own
        self._bytes_out = 0
        self.ready = anyio.Event()
        self._write_warned_at = -math.inf
        self._behind_warned_at = -math.inf
        self.cache_skipped = 0  # blocks not cached because the writer was far behind
        self._store_failing_until = 0.0  # while writes fail (a full disk), refuse inserts
        self._write_failures = 0
        self.misbehaviour = Misbehaviour(settings.misbehave) if settings.misbehave else None

    # --- lifecycle -------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Start everything, report readiness, and serve until cancelled."""
        settings = self.settings
        sync = Synchronous.FULL if settings.store_synchronous_full else Synchronous.NORMAL
        store_config = StoreConfig(size_bytes=settings.store_size, synchronous=sync)
        self.datadir.store_path.mkdir(mode=0o700, exist_ok=True)
        self.store = await AsyncBlockStore.open(
            self.datadir.store_path / "datastore.sqlite", store_config, location=self.location
        )
        loop = asyncio.get_running_loop()
        self._clock = loop.time  # anyio.current_time() without its look-ups
        self._lookup_thread = LookupThread(self.store.sync, loop, self._looked_up)
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                self.listen_port = await tg.start(self._serve)
                self._refresh_ref()
                self._save_state()
                self.core = Node(
                    location=self.location,
                    ref=self._ref().to_bytes(),
                    rng=random.Random(self.rng.getrandbits(64)),
                    config=settings.core,
                    opennet=settings.opennet,
                    verify=self._verify,
                )
                self.core.swap_walks = self._swap_walks
                self._started = anyio.current_time()
                self._load_peers()
                tg.start_soon(self._timer_loop)
                tg.start_soon(self._maintenance_loop)
                if self.misbehaviour is not None:
                    log.warning("TESTING: this node misbehaves (%s)", self.misbehaviour.mode)
                    tg.start_soon(self.misbehaviour.run, self)
                log.info(
                    "node running (%s, location %.4f, %d known peers)",
                    "opennet" if settings.opennet else "darknet",
                    self.location,
                    len(self._friends),
                )
                self.ready.set()
                task_status.started()
                await anyio.sleep_forever()
        finally:
            self._tg = None
            with anyio.CancelScope(shield=True):
                self._save_state()
                self._save_opennet_peers(force=True)
                self._write_stores()
                reader, self._lookup_thread = self._lookup_thread, None
                if reader is not None:
                    reader.close()
                    await anyio.to_thread.run_sync(reader.join)
                await self.store.aclose()
            log.info("node stopped")

    async def _serve(self, *, task_status: anyio.abc.TaskStatus[int]) -> None:
        async def listen(port: int) -> None:
            await serve(
                self.settings.listen_host,
                port,
                self._accepted,
                self.identity,
                self.codec,
                self.settings.link,
                task_status=task_status,
                upload=self.upload,
                download=self.download,
                faults=self.faults,
            )

        try:
            await listen(self.listen_port)
        except OSError as exc:
            if not self.listen_port or exc.errno is None:
                raise
            # The saved port is taken: pick another rather than refusing to start.
            log.warning("listen port %d is unavailable; choosing another", self.listen_port)
            self.listen_port = 0
            await listen(0)

    def _ref(self) -> SignedNodeRef:
        assert self.ref is not None
        return self.ref

    def _refresh_ref(self) -> None:
        host = self.settings.advertise_host or self.settings.listen_host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        address = f"[{host}]:{self.listen_port}" if ":" in host else f"{host}:{self.listen_port}"
        self.ref = make_noderef(
            self.identity,
            addresses=(address,),
            location=(
                self.location
                if self.misbehaviour is None
                else self.misbehaviour.claimed_location(self.location)
            ),
            opennet=self.settings.opennet,
            issued=int(time.time()),
        )

    def noderef_text(self) -> str:
        """This node's signed reference, to give to friends or to put in a seednodes file."""
        return self._ref().to_text()

    def _save_state(self) -> None:
        if self.core is not None:
            self._swap_walks = self.core.swap_walks
        state = {
            "location": self.location,
            "listen_port": self.listen_port,
            "swap_walks": self._swap_walks,
        }
        try:
            self.datadir.write_state(state)
        except OSError as exc:  # a full disk must not stop the node
            log.warning("cannot save the node's state (%s): free disk space", exc.strerror)

    # --- peers: loading, dialling, accepting ------------------------------------

    def _load_peers(self) -> None:
        refs, problems = self.datadir.read_peers()
        for problem in problems:
            log.warning("ignoring a line of the peers file: %s", problem)
        if self.settings.seednodes is not None:
            try:
                text = self.settings.seednodes.read_text("utf-8")
            except OSError as exc:
                log.warning("cannot read the seednodes file: %s", exc.strerror)
                text = ""
            for line in text.splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    try:
                        refs.append(parse_noderef(line))
                    except NodeRefError as exc:
                        log.warning("ignoring a seed node: %s", exc)
        for ref in refs:
            if ref.identity != self.peer_id:
                self._friends[ref.identity] = ref
        try:
            self._peers_mtime = self.datadir.peers_path.stat().st_mtime
        except OSError:
            self._peers_mtime = 0.0

    def _dial(self, ref: SignedNodeRef) -> None:
        identity = ref.identity
        if (
            identity == self.peer_id
            or identity in self._conns
            or identity in self._dialling
            or self._is_shunned(identity)
            or self._tg is None
        ):
            return
        self._dialling.add(identity)
        self._tg.start_soon(self._dial_task, ref)

    async def _dial_task(self, ref: SignedNodeRef) -> None:
        identity = ref.identity
        try:
            for address in ref.ref.addresses:
                host, _, port = address.rpartition(":")
                try:
                    async with connect(
                        host.strip("[]"),
                        int(port),
                        self.identity,
                        identity,
                        self.codec,
                        self.settings.link,
                        upload=self.upload,
                        download=self.download,
                        faults=self.faults,
                    ) as link:
                        self._dialling.discard(identity)
                        self._redial_at.pop(identity, None)
                        await self._run_link(link, inbound=False)
                        return
                except (LinkError, OSError) as exc:
                    log.debug("dialling %s at %s failed: %s", _short(identity), address, exc)
            self._note_dial_failure(identity)
        finally:
            self._dialling.discard(identity)

    def _note_dial_failure(self, identity: bytes) -> None:
        _at, attempt = self._redial_at.get(identity, (0.0, 0))
        delay = default_backoff(attempt) * (0.5 + self.rng.random())
        self._redial_at[identity] = (anyio.current_time() + delay, attempt + 1)

    async def _accepted(self, link: Link) -> None:
        await self._run_link(link, inbound=True)

    def _is_shunned(self, identity: bytes) -> bool:
        until = self._shunned.get(identity)
        if until is not None and until > anyio.current_time():
            return True
        if self.faults.count(identity) >= MAX_FAULTS:
            self._shunned[identity] = anyio.current_time() + SHUN_SECONDS
            log.info("shunning a peer that sent garbage %d times", self.faults.count(identity))
            return True
        return False

    async def _run_link(self, link: Link, *, inbound: bool) -> None:
        """Hello exchange, registration with the core, then serve the link until it ends."""
        identity = link.peer_identity
        if self._is_shunned(identity) or self.core is None:
            return
        try:
            with anyio.fail_after(self.settings.link.handshake_timeout):
                await link.send(LinkHello(ref=self._ref().to_bytes(), clock=int(time.time())))
                hello = await link.receive()
        except (LinkError, TimeoutError):
            return
        if isinstance(hello, LinkHello) and hello.clock:
            self._clock_offsets[identity] = hello.clock - time.time()
        if not isinstance(hello, LinkHello):
            self.faults.record(identity, "protocol")
            return
        try:
            ref = parse_noderef_bytes(hello.ref, now=time.time(), max_age=REF_MAX_AGE)
        except NodeRefError as exc:
            log.debug("peer sent an unusable reference: %s", exc)
            self.faults.record(identity, "protocol")
            return
        if ref.identity != identity:
            self.faults.record(identity, "protocol")
            return
        if not self.settings.opennet and inbound and identity not in self._friends:
            log.debug("refusing a link from a stranger (darknet)")
            return
        if not self._keep_new_link(identity, inbound):
            return
        send, receive = anyio.create_memory_object_stream[object](OUTBOX_SIZE)
        now = anyio.current_time()
        conn = _PeerConn(link, ref, inbound, send, now)
        old = self._conns.get(identity)
        self._conns[identity] = conn
        if old is not None:
            old.scope.cancel()  # the core keeps its peer state; only the link changes
        else:
            if self.settings.opennet and identity not in self._friends:
                self._friends[identity] = ref
            self._apply(self._core().peer_connected(identity, hello.ref, ref.ref.location, now))
        log.debug("link up with %s (%s)", _short(identity), "in" if inbound else "out")
        try:
            with conn.scope:
                async with anyio.create_task_group() as tg, send, receive:
                    tg.start_soon(self._writer, conn, receive)
                    await self._reader(conn)
                    tg.cancel_scope.cancel()
        finally:
            self._bytes_in += link.bytes_received
            self._bytes_out += link.bytes_sent
            if self._conns.get(identity) is conn:
                del self._conns[identity]
                self._clock_offsets.pop(identity, None)
                if self.core is not None and identity in self.core.peers:
                    self._apply(self.core.peer_lost(identity, anyio.current_time()))
                self._note_dial_failure(identity)
                log.debug("link down with %s", _short(identity))

    def _keep_new_link(self, identity: bytes, inbound: bool) -> bool:
        """Both ends dialled at once: keep the link dialled by the smaller identity."""
        old = self._conns.get(identity)
        if old is None or old.link.closed:
            return True
        new_dialler = identity if inbound else self.peer_id
        old_dialler = identity if old.inbound else self.peer_id
        return new_dialler < old_dialler

    async def _reader(self, conn: _PeerConn) -> None:
        """Serve the messages of one link as they arrive (:meth:`Link.deliver`)."""
        link = conn.link
        try:
            await link.deliver(functools.partial(self._received, conn), self._read_all)
        except LinkError as exc:
            log.debug("link with %s ended: %s", _short(link.peer_identity), exc)
        finally:
            self._read_all()

    def _received(self, conn: _PeerConn, message: object) -> None:
        """One message from a peer: to the core, and carry out what it asks.

        Stores and sends wait for :meth:`_read_all`, called once every message
        of one read has been handled: a burst of blocks becomes one batch for
        the store's writer, and the replies to a burst go out as one write.
        """
        link = conn.link
        identity = link.peer_identity
        self.messages_in += 1
        core = self.core
        if self._conns.get(identity) is not conn or core is None:
            link.close()
            return
        if isinstance(message, LinkHello):
            self.faults.record(identity, "protocol")
            link.close()
            return
        if (
            (self._store_failing_until or len(self._writing) >= MAX_UNWRITTEN)
            and type(message) is Insert
            and self._refuse_insert(identity, message)
        ):
            return
        actions = core.receive(identity, message, self._clock())  # type: ignore[arg-type]
        if actions and type(actions[0]) is DropPeer and actions[0].peer == identity:
            # The core drops a sender only for garbage, such as a block that
            # fails verification. Every node verifies a block before passing
            # it on, so no honest peer sends one: shun it now, or it comes
            # straight back (opennet) and does it again.
            self.faults.record(identity, "protocol")
            self._shunned[identity] = anyio.current_time() + SHUN_SECONDS
            log.info("shunning a peer that sent an invalid message or block")
        self._apply(actions, flush=False)

    def _read_all(self) -> None:
        """The messages read so far are handled: hand over their stores, write their sends."""
        if self._to_store:
            self._flush_stores()
        if self._unflushed and not self._flush_soon:
            self._flush_links()
        if self._clients_woken:
            # The local clients these messages answered run next, in the order they
            # were woken, and start their next requests: flush right after the last
            # of them, in that same loop turn (the flush _run_local would schedule
            # comes a turn later).
            self._clients_woken = False
            if not self._flush_soon:
                self._flush_soon = True
                asyncio.get_running_loop().call_soon(self._flush_links)

    async def _writer(self, conn: _PeerConn, outbox: MemoryObjectReceiveStream[object]) -> None:
        """Send what the core queued for this peer; a backlog goes out in one write."""
        try:
            async for message in outbox:
                batch = [message]
                while len(batch) < WRITE_BATCH:
                    try:
                        batch.append(outbox.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                await conn.link.send_many(batch)
                self.messages_out += len(batch)
        except (LinkError, anyio.ClosedResourceError):
            # ClosedResourceError: the link is being torn down (its outbox closed)
            # while a write finished; it used to escape and stop the whole node.
            conn.scope.cancel()

    # --- carrying out the core's actions ------------------------------------------

    def _core(self) -> Node:
        assert self.core is not None
        return self.core

    def _apply(self, actions: list[Action], *, flush: bool = True) -> None:
        """Carry out ``actions`` in order, then feed the core the lookups answered meanwhile.

        ``flush=False`` leaves the blocks to store and the sends gathered for a
        later flush (:meth:`_read_all`, once the messages of one read are handled).
        """
        handlers = _ACTIONS
        for action in actions:
            handler = handlers.get(type(action))
            if handler is not None:
                handler(self, action)
        answers = self._answers
        while answers and self.core is not None:
            # Each answer is one core call whose actions run in full before the
            # next answer (they may answer more lookups: the loop takes those too).
            self._answers = []
            now = self._clock()
            for lookup, block in answers:
                if block is not None and block.kind is not lookup.kind:
                    block = None
                for action in self.core.block_looked_up(lookup.token, block, now):
                    handler = handlers.get(type(action))
                    if handler is not None:
                        handler(self, action)
            answers = self._answers
        if self._verified:
            self._verified.clear()
        if flush:
            if self._to_store:
                self._flush_stores()
            if self._unflushed and not self._flush_soon:
                self._flush_links()

    def _flush_links(self) -> None:
        """Write what :meth:`_deliver` sealed for each link; drop a peer that stopped reading."""
        self._flush_soon = False
        conns, self._unflushed = self._unflushed, set()
        for conn in conns:
            link = conn.link
            link.flush()
            if link.backlog > MAX_BACKLOG:
                log.info("a peer stopped reading; dropping its link")
                conn.scope.cancel()

    def _send(self, action: Send) -> None:
        conn = self._conns.get(action.peer)
        if conn is None:
            return  # the link is gone; the core will time the wait out
        message: Message | None = action.message
        if self.misbehaviour is not None:
            message, delay = self.misbehaviour.outgoing(action.message)
            if message is None:
                return
            if delay and self._tg is not None:
                self._tg.start_soon(self._send_late, Send(peer=action.peer, message=message), delay)
                return
        self._deliver(conn, message)

    def _deliver(self, conn: _PeerConn, message: object) -> None:
        """Hand ``message`` to the peer's link now, or to its writer task if the upload is
        limited (the writer waits for the limiter). A peer that stopped reading is dropped."""
        link = conn.link
        if not link.can_send_now:
            try:
                conn.outbox.send_nowait(message)
            except anyio.WouldBlock:
                log.info("a peer stopped reading; dropping its link")
                conn.scope.cancel()
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass
            return
        try:
            link.send_now(message)  # written by _flush_links, at the end of this loop turn
        except LinkError:
            return  # the link is gone: its reader finds out and tells the core
        except LocalProtocolError:
            log.exception("not sending a message that breaks its schema (a bug)")
            return
        self.messages_out += 1
        self._unflushed.add(conn)

    async def _send_late(self, action: Send, delay: float) -> None:
        """Test networks only: a slow node's reply (see :mod:`node.net.misbehave`)."""
        await anyio.sleep(delay)
        conn = self._conns.get(action.peer)
        if conn is not None:
            self._deliver(conn, action.message)
            self._flush_links()

    def _set_timer(self, action: SetTimer) -> None:
        first = self._timers[0][0] if self._timers else math.inf
        heapq.heappush(self._timers, (action.at, action.token))
        if action.at < first:
            self._timer_wake.set()

    def _lookup(self, action: LookupBlock) -> None:
        if self._tg is None or self.store is None or self._lookup_thread is None:
            return
        key = action.routing_key
        block = self._writing.get(key)
        if block is None:
            try:
                block = self.store.get_nowait(key)
            except WouldBlock:  # the disk or a commit would make us wait: the thread reads it
                self._lookup_thread.submit(action, key)
                return
        self._answers.append((action, block))  # fed to the core at the end of _apply

    def _looked_up(
        self, lookups: list[LookupBlock], outcome: list[Block | None] | StoreError
    ) -> None:
        """The reader thread's answers (on the event loop): feed them to the core."""
        if self.core is None or self._lookup_thread is None:
            return  # the node is stopping
        if isinstance(outcome, StoreError):
            log.warning("datastore lookup failed: %s", outcome)
            outcome = [None] * len(lookups)
        self._answers.extend(zip(lookups, outcome, strict=True))
        self._apply([])

    def _verify(self, block: Block) -> None:
        """The core's check of a block a peer sent: :func:`verify_block`, remembering
        the block until its action list has been carried out, so that a StoreBlock
        for it there asks the store's writer only to seal it, not to verify it again.
        A block the core did not just verify (a local insert) is verified by the store.
        """
        verify_block(block)
        self._verified[id(block)] = block

    def _store_block(self, action: StoreBlock) -> None:
        if self._tg is None or self.store is None:
            return
        area = StoreArea.STORE if action.area is Area.STORE else StoreArea.CACHE
        block = action.block
        if area is StoreArea.CACHE and len(self._writing) >= MAX_UNWRITTEN:
            self._skip_caching()
            return
        # Until the write commits, lookups see the block here: a fetch that
        # arrives right after an insert must not miss it.
        self._writing.setdefault(block.routing_key, block)
        verified = self._verified.get(id(block)) is block
        self._to_store.setdefault((area, verified), []).append(block)
        self._to_store_count += 1

    def _flush_stores(self) -> None:
        """Called once an action list has been carried out: hand the blocks waiting
        to the store's writer once :data:`WRITE_BATCH_BLOCKS` have gathered, else
        within :data:`WRITE_DELAY`, so that they share a group commit. Lookups find
        them in ``_writing`` meanwhile, and nobody waits for the write.
        """
        if self._to_store_count >= WRITE_BATCH_BLOCKS:
            self._write_stores()
        elif self._write_timer is None and self._to_store_count:
            loop = asyncio.get_running_loop()
            self._write_timer = loop.call_later(WRITE_DELAY, self._write_stores)

    def _write_stores(self) -> None:
        """Hand every block waiting to the writer: one ``put_soon`` per area."""
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        batches, self._to_store = self._to_store, {}
        self._to_store_count = 0
        for (area, verified), blocks in batches.items():
            self._put_soon(area, blocks, verified=verified)

    def _put_soon(self, area: StoreArea, blocks: list[Block], *, verified: bool = False) -> None:
        try:
            assert self.store is not None
            done = functools.partial(self._stored, area, blocks)
            self.store.put_soon(blocks, area, done, verified=verified)
        except StoreError as exc:  # closed: the node is stopping
            self._stored(area, blocks, exc)

    def _stored(
        self, area: StoreArea, blocks: list[Block], outcome: list[PutResult] | StoreError
    ) -> None:
        """The writer committed ``blocks`` (or failed): lookups find them in the store now."""
        writing = self._writing
        for block in blocks:
            if writing.get(block.routing_key) is block:
                del writing[block.routing_key]
        if isinstance(outcome, RejectedBlock) and len(blocks) > 1:
            # The core only stores verified blocks, so this is a bug somewhere;
            # still, one bad block must not cost the others their place.
            for block in blocks:
                self._writing.setdefault(block.routing_key, block)
                self._put_soon(area, [block])
        elif isinstance(outcome, StoreError):
            if not isinstance(outcome, RejectedBlock):
                self._store_failing_until = anyio.current_time() + STORE_FAILING_SECONDS
            # Once a minute at most: a full disk fails every write, and a log
            # flooded with one line says no more than the line does once.
            now = anyio.current_time()
            self._write_failures += 1
            if now >= self._write_warned_at + 60.0:
                log.warning(
                    "datastore write failed (%d blocks not kept since the last warning): %s",
                    self._write_failures,
                    outcome,
                )
                self._write_warned_at = now
                self._write_failures = 0

    def _skip_caching(self) -> None:
        """The writer is :data:`MAX_UNWRITTEN` blocks behind: this block is not cached."""
        self.cache_skipped += 1
        now = anyio.current_time()
        if now >= self._behind_warned_at + 60.0:
            log.warning(
                "the datastore is %d blocks behind the network: not caching (%d blocks so "
                "far) and refusing inserts until it catches up",
                len(self._writing),
                self.cache_skipped,
            )
            self._behind_warned_at = now

    def _refuse_insert(self, identity: bytes, message: Insert) -> bool:
        """While our datastore cannot write (a full disk) or is far behind, an insert
        we accepted would be acknowledged and kept nowhere (or in memory only):
        refuse it, so it routes elsewhere."""
        if len(self._writing) < MAX_UNWRITTEN and anyio.current_time() >= (
            self._store_failing_until
        ):
            self._store_failing_until = 0.0
            return False
        self._send(Send(peer=identity, message=RejectedOverload(uid=message.uid)))
        return True

    def _done(self, action: RequestDone | InsertDone | AnnounceDone) -> None:
        waiter = self._waiters.get(action.client_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(action)
            self._clients_woken = True

    def _connect_to(self, action: ConnectTo) -> None:
        try:
            ref = parse_noderef_bytes(action.ref, now=time.time(), max_age=REF_MAX_AGE)
        except NodeRefError:
            return
        if self.settings.opennet:
            self._dial(ref)

    def _drop_peer(self, action: DropPeer) -> None:
        conn = self._conns.pop(action.peer, None)
        if conn is not None:
            conn.scope.cancel()
        if not self.settings.opennet:
            return
        # An opennet peer the core judged least useful is not redialled from the list.
        self._friends.pop(action.peer, None)

    def _location_changed(self, action: LocationChanged) -> None:
        self.location = action.location
        if self.store is not None:
            self.store.set_location(action.location)
        self._refresh_ref()
        self._save_state()

    # --- timers and housekeeping ------------------------------------------------

    async def _timer_loop(self) -> None:
        while True:
            if self._timers:
                delay = self._timers[0][0] - anyio.current_time()
                if delay > 0:
                    # Timers come due one per request, ~40 s after it: waking for
                    # each would cost a wake-up per request; a few per second do.
                    with anyio.move_on_after(max(delay, TIMER_GRANULARITY)):
                        await self._timer_wake.wait()
            else:
                await self._timer_wake.wait()
            self._timer_wake = anyio.Event()
            now = anyio.current_time()
            while self._timers and self._timers[0][0] <= now:
                _at, token = heapq.heappop(self._timers)
                self._apply(self._core().timer(token, now))

    async def _maintenance_loop(self) -> None:
        interval = self.settings.maintenance_interval
        next_swap = anyio.current_time() + self.settings.swap_interval * self.rng.random()
        while True:
            self._maintain()
            now = anyio.current_time()
            if not self.settings.opennet and now >= next_swap and self._conns:
                self._apply(self._core().start_swap(now))
                next_swap = now + self.settings.swap_interval * (0.5 + self.rng.random())
            await anyio.sleep(min(interval, max(0.05, next_swap - now)))

    def _maintain(self) -> None:
        now = anyio.current_time()
        self._reread_peers_file()
        for identity, ref in list(self._friends.items()):
            if identity in self._conns or identity in self._dialling:
                continue
            at, _attempt = self._redial_at.get(identity, (0.0, 0))
            if at <= now:
                self._dial(ref)
        core = self._core()
        if (
            self.settings.opennet
            and self._conns
            and len(core.peers) < self.settings.core.min_peers
            and now - core.last_announce >= self.settings.core.announce_interval
        ):
            self._apply(core.start_announce(-2, now))
        self._save_opennet_peers()

    def _reread_peers_file(self) -> None:
        try:
            mtime = self.datadir.peers_path.stat().st_mtime
        except OSError:
            return
        if mtime == self._peers_mtime:
            return
        self._peers_mtime = mtime
        refs, problems = self.datadir.read_peers()
        for problem in problems:
            log.warning("ignoring a line of the peers file: %s", problem)
        for ref in refs:
            if ref.identity != self.peer_id and ref.identity not in self._friends:
                self._friends[ref.identity] = ref
                self._redial_at.pop(ref.identity, None)

    def _save_opennet_peers(self, *, force: bool = False) -> None:
        """Opennet: remember connected peers so a restart can rejoin without seeds."""
        if not self.settings.opennet:
            return
        current = frozenset(self._conns)
        if not force and current == self._opennet_saved:
            return
        if not current:
            return
        self._opennet_saved = current
        refs = [c.ref for c in self._conns.values()]
        try:
            self.datadir.write_peers(refs)
            self._peers_mtime = self.datadir.peers_path.stat().st_mtime
        except OSError as exc:
            log.warning("cannot save the peers file: %s", exc.strerror)

    # --- the local client API ----------------------------------------------------

    async def fetch(self, kind: KeyKind, routing_key: bytes) -> FetchResult:
        """Fetch one block through the network (or from our own store)."""
        result = await self._run_local(
            lambda cid, now: self._core().start_request(kind, routing_key, cid, now)
        )
        assert isinstance(result, RequestDone)
        return FetchResult(result.outcome, result.block)

    async def insert(self, block: Block) -> InsertResult:
        """Insert one (already encoded) block into the network."""
        result = await self._run_local(lambda cid, now: self._core().start_insert(block, cid, now))
        assert isinstance(result, InsertDone)
        return InsertResult(result.outcome, result.existing)

    async def announce(self) -> int:
        """Opennet: announce now; returns how many nodes offered to peer."""
        result = await self._run_local(lambda cid, now: self._core().start_announce(cid, now))
        assert isinstance(result, AnnounceDone)
        return result.offers

    async def _run_local(self, start: Callable[[int, float], list[Action]]) -> _Done:
        if not self.ready.is_set():
            await self.ready.wait()
        cid = next(self._client_ids)
        # A bare future: the cheapest thing to wait on, and cancelled with the caller.
        waiter: asyncio.Future[_Done] = asyncio.get_running_loop().create_future()
        self._waiters[cid] = waiter
        # Local clients woken together (by one burst of replies) start their next
        # requests in one loop turn: flush once, after all of them, so the requests
        # leave as one write and wake the next node once, not once each.
        if not self._flush_soon:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self._flush_links)
        try:
            self._apply(start(cid, self._clock()))
            return await waiter
        finally:
            del self._waiters[cid]

    async def add_friend(self, ref: SignedNodeRef) -> None:
        """Darknet: remember ``ref`` in the peers file and connect to it."""
        self.datadir.add_peer(ref)
        self._friends[ref.identity] = ref
        self._redial_at.pop(ref.identity, None)
        self._dial(ref)

    def _clock_skew(self) -> float:
        """How far our clock is behind the network's (positive) or ahead (negative):
        the median over connected peers, so one liar cannot move it."""
        return _median([self._clock_offsets[i] for i in self._conns if i in self._clock_offsets])

    @property
    def connected_peers(self) -> int:
        return len(self._conns)

    async def status(self) -> NodeStatus:
        assert self.store is not None
        stats = await self.store.stats()
        now = anyio.current_time()
        core = self._core()
        peers = tuple(
            PeerInfo(
                identity=_short(identity),
                location=_peer_location(core, identity, conn.ref),
                connected_for=now - conn.connected_at,
                inbound=conn.inbound,
                friend=not conn.ref.ref.opennet,
            )
            for identity, conn in self._conns.items()
        )
        return NodeStatus(
            identity=_short(self.peer_id),
            location=self.location,
            opennet=self.settings.opennet,
            listen_port=self.listen_port,
            peers=peers,
            store_blocks=stats.store.blocks,
            store_bytes=stats.store.bytes,
            store_limit=stats.store.limit,
            cache_blocks=stats.cache.blocks,
            cache_bytes=stats.cache.bytes,
            cache_limit=stats.cache.limit,
            messages_in=self.messages_in,
            messages_out=self.messages_out,
            bytes_in=self._bytes_in + sum(c.link.bytes_received for c in self._conns.values()),
            bytes_out=self._bytes_out + sum(c.link.bytes_sent for c in self._conns.values()),
            clock_skew=self._clock_skew(),
            uptime=now - self._started,
        )


def _median(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _peer_location(core: Node, identity: bytes, ref: SignedNodeRef) -> float:
    peer = core.peers.get(identity)
    return peer.location if peer is not None else ref.ref.location


def _short(identity: bytes) -> str:
    """A short, non-identifying-at-a-glance name for logs and status screens."""
    return b64encode(identity)[:8]


_ACTIONS: dict[type, Callable[[NodeRuntime, Any], None]] = {
    Send: NodeRuntime._send,
    SetTimer: NodeRuntime._set_timer,
    LookupBlock: NodeRuntime._lookup,
    StoreBlock: NodeRuntime._store_block,
    RequestDone: NodeRuntime._done,
    InsertDone: NodeRuntime._done,
    AnnounceDone: NodeRuntime._done,
    ConnectTo: NodeRuntime._connect_to,
    DropPeer: NodeRuntime._drop_peer,
    LocationChanged: NodeRuntime._location_changed,
}

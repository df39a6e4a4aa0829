"""Checking and repairing what a key holds: probe every block, re-insert what is missing.

:func:`check` walks a key as a fetch would — signed keys, USK editions,
redirects, split metadata and every file of a site — and asks the network for
every block of every segment (data and check blocks alike), so the report says
per segment how many of its ``n`` blocks are retrievable and whether the ``k``
it needs are there. A fetch stops at ``k``; a check must not, because a
segment with exactly ``k`` blocks left survives today and dies with the next
lost block.

With ``repair`` the missing blocks of each segment are rebuilt and inserted:
from a local copy of the file when one is given (matched by content hash,
compressed with the codec in the metadata and re-encoded, so even a segment
with fewer than ``k`` blocks left comes back), otherwise by FEC from the
blocks that were found (the segment must still have ``k``). Rebuilt blocks
are checked against the routing keys in the metadata before they are sent.

Probing goes through the node like any fetch, so the node doing the check
caches what it finds: check from a node that did not insert the content to
see what the network holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import anyio

from crypto.blocks import Block, KeyKind
from crypto.chk import decode_chk
from crypto.errors import CryptoError
from crypto.uri import URI
from node.client.compression import compress_with
from node.client.crypt import content_hash
from node.client.errors import ClientError, FetchError, NetworkError, collapse_groups
from node.client.fec import decode_and_decrypt, encode_segment, reencode_blocks, split_blocks
from node.client.metadata import Content, Document, FileDoc, Manifest, MetaDoc, Redirect, Segment
from node.client.splitfile import (
    INSERT_RETRIES,
    SEGMENTS_AHEAD,
    BytesSink,
    Transfer,
    fetch_content,
)

# Documents (redirects, manifests, split metadata) visited per check: a site of
# a few thousand files is well inside; a hostile key cannot make us loop.
MAX_DOCUMENTS = 20_000
METADATA_SUFFIX = " (metadata)"


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentCheck:
    """What a check found for one segment of one file (or of its split metadata)."""

    path: str  # the file's name in the site ("" for the key's own file)
    index: int  # segment number, from 0
    segments: int  # segments of this file
    k: int
    n: int
    found: int
    missing: tuple[int, ...]
    repaired: int = 0
    note: str = ""  # why missing blocks were not repaired, if they were not

    @property
    def retrievable(self) -> bool:
        """Any ``k`` of the segment's blocks are (now) in the network."""
        return self.found + self.repaired >= self.k


@dataclass(frozen=True, slots=True, kw_only=True)
class Lost:
    """A part of the key that could not be walked: its metadata is gone or broken."""

    path: str
    reason: str


@dataclass(slots=True, kw_only=True)
class CheckReport:
    uri: str  # where the walk started (a USK with the edition found)
    files: list[str] = field(default_factory=list)  # every file reached
    segments: list[SegmentCheck] = field(default_factory=list)
    lost: list[Lost] = field(default_factory=list)
    metadata_blocks: int = 0  # metadata and signed blocks fetched while walking

    @property
    def blocks(self) -> int:
        return sum(s.n for s in self.segments)

    @property
    def found(self) -> int:
        return sum(s.found for s in self.segments)

    @property
    def missing(self) -> int:
        return sum(len(s.missing) for s in self.segments)

    @property
    def repaired(self) -> int:
        return sum(s.repaired for s in self.segments)

    @property
    def survives(self) -> bool:
        """Every file can be fetched: all metadata found, every segment retrievable."""
        return not self.lost and all(s.retrievable for s in self.segments)


SegmentCallback = Callable[[SegmentCheck], None]
Resolver = Callable[[Transfer, URI], Awaitable[tuple[Document | bytes, str]]]


class LocalCopy:
    """Local files (paths or their bytes) that may be the content of a checked key,
    found by content hash."""

    def __init__(self, items: Iterable[Path | bytes]) -> None:
        self._items = list(items)
        self._by_hash: dict[bytes, Path | bytes] | None = None

    @classmethod
    def of(cls, path: Path) -> LocalCopy:
        """A file, or every regular file under a directory."""
        if path.is_dir():
            return cls(p for p in sorted(path.rglob("*")) if p.is_file() and not p.is_symlink())
        return cls([path])

    async def find(self, digest: bytes) -> bytes | None:
        """The content of a local file whose content hash is ``digest``."""
        if self._by_hash is None:
            self._by_hash = {}
            for item in self._items:
                data = item if isinstance(item, bytes) else await anyio.Path(item).read_bytes()
                self._by_hash[await anyio.to_thread.run_sync(content_hash, data)] = item
        found = self._by_hash.get(digest)
        if found is None or isinstance(found, bytes):
            return found
        return await anyio.Path(found).read_bytes()


@dataclass(slots=True)
class _Walk:
    t: Transfer
    resolve: Resolver
    report: CheckReport
    repair: bool
    local: LocalCopy | None
    on_segment: SegmentCallback | None
    documents: int = 0
    lock: anyio.Lock = field(default_factory=anyio.Lock)


async def check(
    t: Transfer,
    resolve_root: Resolver,
    uri: URI,
    *,
    repair: bool = False,
    local: LocalCopy | None = None,
    on_segment: SegmentCallback | None = None,
) -> CheckReport:
    """Probe (and with ``repair`` re-insert) every block reachable from ``uri``.

    ``resolve_root(t, uri)`` is the client's root lookup (signed key, USK
    edition or metadata CHK → document, where found). Errors reaching the root
    (bad URI, root block not found) propagate; everything below it is reported.
    """
    root, where = await resolve_root(t, uri)
    report = CheckReport(uri=where)
    report.metadata_blocks += 1
    walk = _Walk(t, resolve_root, report, repair, local, on_segment)
    await _walk(walk, root, "", depth=0)
    return report


async def _walk(w: _Walk, doc: Document | bytes, path: str, depth: int) -> None:
    w.documents += 1
    if w.documents > MAX_DOCUMENTS or depth > 64:
        w.report.lost.append(Lost(path=path, reason="too many documents: a loop or a hostile key"))
        return
    if isinstance(doc, bytes):
        w.report.files.append(path)  # a single raw block, found
        return
    if isinstance(doc, FileDoc):
        w.report.files.append(path)
        await _check_content(w, doc.content, path)
        return
    if isinstance(doc, MetaDoc):
        await _check_content(w, doc.content, path + METADATA_SUFFIX)
        inner = await _fetch_document(w, doc.content, path)
        if inner is not None:
            await _walk(w, inner, path, depth + 1)
        return
    if isinstance(doc, Redirect):
        target = await _resolve(w, doc, path)
        if target is not None:
            await _walk(w, target, path, depth + 1)
        return
    if isinstance(doc, Manifest):
        for name, entry in sorted(doc.entries.items()):
            await _walk(w, entry, f"{path}/{name}" if path else name, depth + 1)
        return
    w.report.lost.append(Lost(path=path, reason="the key holds a USK date hint, not content"))


async def _resolve(w: _Walk, doc: Redirect, path: str) -> Document | bytes | None:
    try:
        target = doc.uri
        if target.path:
            w.report.lost.append(
                Lost(path=path, reason="a redirect into another site's path is not checked")
            )
            return None
        found, _where = await w.resolve(w.t, replace(target, path=()))
    except (FetchError, NetworkError, CryptoError) as exc:
        w.report.lost.append(Lost(path=path, reason=f"metadata not retrievable: {exc}"))
        return None
    w.report.metadata_blocks += 1
    return found


async def _fetch_document(w: _Walk, content: Content, path: str) -> Document | None:
    from node.client.metadata import parse_document

    sink = BytesSink(64 * 1024 * 1024)
    try:
        await fetch_content(w.t, content, sink)
        return parse_document(sink.getvalue())
    except ClientError as exc:
        w.report.lost.append(Lost(path=path, reason=f"split metadata not retrievable: {exc}"))
        return None


async def _check_content(w: _Walk, content: Content, path: str) -> None:
    if content.inline is not None:
        return  # the bytes are in the metadata block already found
    local_payload: list[bytes] | None = None
    note = ""
    if w.repair and w.local is not None and not path.endswith(METADATA_SUFFIX):
        local_payload, note = await _local_blocks(w, content)
    ahead = anyio.Semaphore(SEGMENTS_AHEAD)
    count = len(content.segments)

    async def one(index: int, segment: Segment, first: int) -> None:
        try:
            result = await _check_segment(
                w, content, segment, index, first, local_payload, note, path, count
            )
            async with w.lock:
                w.report.segments.append(result)
            if w.on_segment is not None:
                w.on_segment(result)
        finally:
            ahead.release()

    with collapse_groups():
        async with anyio.create_task_group() as tg:
            first = 0
            for index, segment in enumerate(content.segments):
                await ahead.acquire()
                tg.start_soon(one, index, segment, first)
                first += segment.k
    w.report.segments.sort(key=lambda s: (s.path, s.index))


async def _local_blocks(w: _Walk, content: Content) -> tuple[list[bytes] | None, str]:
    """The payload's plain 32 KiB blocks rebuilt from a local copy, or why not."""
    assert w.local is not None
    data = await w.local.find(content.hash)
    if data is None:
        return None, "no local file has this content"
    payload = await anyio.to_thread.run_sync(compress_with, content.codec, data)
    if len(payload) != content.payload_size:
        return None, "the local copy compresses differently here (another zlib/bz2/xz version)"
    return split_blocks(payload), ""


async def _check_segment(
    w: _Walk,
    content: Content,
    segment: Segment,
    index: int,
    first: int,
    local_payload: list[bytes] | None,
    note: str,
    path: str,
    count: int,
) -> SegmentCheck:
    t = w.t
    assert t.network is not None
    network = t.network
    got: dict[int, bytes] = {}
    missing: list[int] = []

    async def probe(i: int) -> None:
        routing_key, decryption_key = segment.block_key(i)
        try:
            async with t.window:
                block = await network.fetch(KeyKind.CHK, routing_key)
            plain = decode_chk(block, decryption_key)
        except (NetworkError, CryptoError):
            missing.append(i)
            t.progress.failure()
            return
        t.progress.success()
        if w.repair:
            got[i] = plain

    t.progress.add(total=segment.n, required=segment.n)
    with collapse_groups():
        async with anyio.create_task_group() as tg:
            for i in range(segment.n):
                tg.start_soon(probe, i)
    missing.sort()
    found = segment.n - len(missing)
    repaired = 0
    if w.repair and missing:
        repaired, note = await _repair(
            w, content, segment, first, got, missing, local_payload, note
        )
    elif w.repair:
        note = ""
    return SegmentCheck(
        path=path,
        index=index,
        segments=count,
        k=segment.k,
        n=segment.n,
        found=found,
        missing=tuple(missing),
        repaired=repaired,
        note=note if missing else "",
    )


async def _repair(
    w: _Walk,
    content: Content,
    segment: Segment,
    first: int,
    got: dict[int, bytes],
    missing: list[int],
    local_payload: list[bytes] | None,
    note: str,
) -> tuple[int, str]:
    t = w.t
    k, n = segment.k, segment.n
    if local_payload is not None:
        plain = local_payload[first : first + k]
        encoded = await t.pool.run(encode_segment, plain, n, content.crypt_key, first, segment.fec)
        rebuilt = [encoded[i] for i in missing]
    elif len(got) >= k:
        chosen = dict(sorted(got.items())[:k])
        stored, _payload = await t.pool.run(
            decode_and_decrypt, chosen, k, n, None, first, segment.fec
        )
        rebuilt = await t.pool.run(reencode_blocks, stored, n, missing, segment.fec)
    else:
        reason = note or "no local copy given (--from)"
        return 0, f"only {len(got)} of the {k} blocks needed are left and {reason}"
    bad = [i for i, rk, _key, _data in rebuilt if rk != segment.block_key(i)[0]]
    if bad:
        return 0, "the rebuilt blocks do not match the metadata (inserted with other FEC?)"
    repaired = 0
    assert t.network is not None
    network = t.network

    async def put(rk: bytes, data: bytes) -> None:
        nonlocal repaired
        for _attempt in range(INSERT_RETRIES + 1):
            with contextlib.suppress(NetworkError):
                async with t.window:
                    await network.insert(Block(KeyKind.CHK, rk, data))
                repaired += 1
                return

    with collapse_groups():
        async with anyio.create_task_group() as tg:
            for _i, rk, _key, data in rebuilt:
                tg.start_soon(put, rk, data)
    failed = len(rebuilt) - repaired
    return repaired, f"{failed} re-inserts failed" if failed else ""

"""The client: put and get files, sites, redirects and signed keys over a block network.

:class:`Client` is the one-shot API (no persistence) that the request manager
drives. ``put*`` turn content into metadata documents and blocks and return the
request URI; ``get`` resolves a URI — signed keys, USK editions, redirects,
split metadata, manifest paths — and streams the file into a sink.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from types import TracebackType

import anyio

from crypto.blocks import KeyKind
from crypto.chk import CHK_DATA_SIZE
from crypto.errors import CryptoError
from crypto.keys import decode_block, insert_chk, insert_ssk, ksk_as_ssk, request_key
from crypto.primitives import hash_for
from crypto.ssk import SSK_DATA_SIZE
from crypto.uri import CHKURI, KSKURI, SSKURI, URI, USKURI, parse_uri
from node.client.check import CheckReport, LocalCopy, SegmentCallback
from node.client.check import check as check_key
from node.client.compression import ALL_CODECS, Codec, compress
from node.client.crypt import content_hash, keystream_xor, new_key
from node.client.errors import (
    BlockDecodeError,
    Collision,
    DataNotFound,
    InvalidInsertURI,
    InvalidMetadata,
    InvalidRequestURI,
    NetworkError,
    NotEnoughPathComponents,
    PathNotFound,
    TooBig,
    TooLargeForKey,
    TooManyMetadataLevels,
    TooManyPathComponents,
    TooManyRedirects,
    collapse_groups,
)
from node.client.fec import MAX_SEGMENT_DATA, CpuPool
from node.client.manifest import (
    DEFAULT_NAME,
    INLINE_FILE_LIMIT,
    INLINE_SITE_LIMIT,
    SiteFile,
    build_manifest,
    guess_mime,
)
from node.client.metadata import (
    DEFAULT_MIME,
    Content,
    Document,
    FileDoc,
    Hint,
    Manifest,
    MetaDoc,
    Redirect,
    encode_document,
    parse_document,
)
from node.client.network import BlockNetwork
from node.client.progress import ProgressCallback, ProgressTracker
from node.client.splitfile import (
    DEFAULT_EXTRA_INSERTS,
    DEFAULT_WINDOW,
    MAX_EXTRA_INSERTS,
    BytesSink,
    Healer,
    Sink,
    Transfer,
    fetch_block,
    fetch_content,
    insert_block,
    insert_copies,
    insert_payload,
)
from node.client.usk import EditionCache, find_latest, hint_periods, hint_ssk

# Freenet follows at most 8 redirects before suspecting a loop; so do we.
MAX_REDIRECTS = 8
# Each level of split metadata shrinks it ~480-fold; 4 levels describe more
# than any file could be, so more means a hostile or broken key.
MAX_METADATA_LEVELS = 4
# Split metadata is held in memory to parse: 64 MiB covers a ~30 GiB file.
MAX_METADATA_SIZE = 64 * 1024 * 1024
# A USK insert walks past editions taken by other content at most this far.
MAX_EDITION_COLLISIONS = 64
# Split metadata under a signed key: its content already holds random keys, so a
# fixed seed hides nothing less and keeps resumed inserts identical.
_SEED_META = bytes(32)
KEY_CONTEXT = "samizdat/client-content-key/v1"
# Sites read and encode a few files at once, bounding memory for big files.
SITE_FILE_CONCURRENCY = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchResult:
    """What a fetch found: the URI it was finally read from, its MIME type and size."""

    uri: str
    mime: str
    size: int


def as_uri(uri: str | URI) -> URI:
    """Parse text keys (raising :class:`InvalidRequestURI`); pass parsed ones through."""
    if not isinstance(uri, str):
        return uri
    try:
        return parse_uri(uri.strip())
    except CryptoError as exc:
        raise InvalidRequestURI(f"{exc}") from None


def _without_path(uri: URI) -> URI:
    return replace(uri, path=())


class Client:
    """Inserts and fetches over a :class:`~node.client.network.BlockNetwork`.

    An async context manager: it owns the CPU pool for FEC and the healer's
    background task group.

    Args:
        network: where blocks go and come from.
        editions: the USK "latest seen" cache (the request manager passes its
            persistent one).
        processes: run FEC in worker processes (the node) rather than threads
            (tests); see ``specs/client.md`` §Throughput.
        window: concurrent block operations per request.
        clock: POSIX time, for USK date hints.
        heal: re-insert blocks that fetches had to rebuild.
        max_k: data blocks per segment (the spec explains the default).
    """

    def __init__(
        self,
        network: BlockNetwork,
        *,
        editions: EditionCache | None = None,
        processes: bool = False,
        workers: int | None = None,
        window: int = DEFAULT_WINDOW,
        clock: Callable[[], float] = time.time,
        heal: bool = True,
        max_k: int = MAX_SEGMENT_DATA,
    ) -> None:
        self.network = network
        self.editions = editions if editions is not None else EditionCache()
        self.pool = CpuPool(workers, processes=processes)
        self.healer: Healer | None = Healer(network, self.pool) if heal else None
        self.window = window
        self.clock = clock
        self.max_k = max_k
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Client:
        await self._stack.enter_async_context(self.pool)
        if self.healer is not None:
            await self._stack.enter_async_context(self.healer)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._stack.__aexit__(exc_type, exc, tb)

    def using(self, network: BlockNetwork) -> Client:
        """A view of this client that moves blocks through ``network`` (same pool,
        healer and edition cache); the request manager wraps the network per request."""
        view = copy.copy(self)
        view.network = network
        return view

    def _transfer(
        self,
        progress: ProgressCallback | None,
        *,
        send: bool = True,
        extra_single: int = DEFAULT_EXTRA_INSERTS,
        extra_header: int = DEFAULT_EXTRA_INSERTS,
    ) -> Transfer:
        for name, value in (("extra_single", extra_single), ("extra_header", extra_header)):
            if isinstance(value, bool) or not 0 <= value <= MAX_EXTRA_INSERTS:
                raise ValueError(f"{name} must be 0 to {MAX_EXTRA_INSERTS} copies, not {value!r}")
        return Transfer(
            network=self.network if send else None,
            pool=self.pool,
            progress=ProgressTracker(progress),
            window=anyio.CapacityLimiter(self.window),
            healer=self.healer,
            max_k=self.max_k,
            extra_single=extra_single,
            extra_header=extra_header,
        )

    # --- put ---------------------------------------------------------------------------

    async def put(
        self,
        data: bytes,
        uri: str | URI = "CHK@",
        *,
        mime: str | None = None,
        filename: str | None = None,
        codecs: Iterable[Codec] = ALL_CODECS,
        get_chk_only: bool = False,
        key_seed: bytes | None = None,
        progress: ProgressCallback | None = None,
        extra_single: int = DEFAULT_EXTRA_INSERTS,
        extra_header: int = DEFAULT_EXTRA_INSERTS,
    ) -> str:
        """Insert one file under ``uri`` (an insert key); return its request URI.

        ``filename`` (or a ``CHK@/name`` path) names the file: it picks the MIME
        type when ``mime`` is not given and, for a CHK, becomes the URI's last
        component (a one-file site, as Freenet's TargetFilename). With
        ``get_chk_only`` nothing is sent and the URI is what the insert would give.
        ``extra_single``/``extra_header`` (0 to ``MAX_EXTRA_INSERTS``) are the extra
        copies of blocks without FEC (see :func:`~node.client.splitfile.insert_block`).
        """
        target = self._insert_target(uri)
        name = filename or (target.path[-1] if isinstance(target, CHKURI) and target.path else None)
        t = self._transfer(
            progress, send=not get_chk_only, extra_single=extra_single, extra_header=extra_header
        )
        encrypt = not isinstance(target, CHKURI)
        doc = await self._file_doc(
            t, data, mime or guess_mime(name or ""), codecs, encrypt, key_seed
        )
        if isinstance(target, CHKURI) and name:
            entry = await self._site_entry(t, doc, budget=[INLINE_SITE_LIMIT], encrypt=False)
            doc_for_key: Document = Manifest(entries={name: entry}, default=name)
            chk = await self._store_doc(t, doc_for_key, encrypt=False)
            return str(replace(chk, path=(name,)))
        return await self._publish(t, target, doc)

    async def put_site(
        self,
        files: Mapping[str, SiteFile],
        uri: str | URI = "CHK@",
        *,
        default: str | None = None,
        codecs: Iterable[Codec] = ALL_CODECS,
        get_chk_only: bool = False,
        key_seed: bytes | None = None,
        progress: ProgressCallback | None = None,
        extra_single: int = DEFAULT_EXTRA_INSERTS,
        extra_header: int = DEFAULT_EXTRA_INSERTS,
    ) -> str:
        """Insert a site (``a/b.html`` names → files) as a manifest; return its request URI.

        ``default`` is the document served for the bare key: ``index.html`` when
        present unless another name is given. ``extra_*`` as for :meth:`put`.
        """
        target = self._insert_target(uri)
        if default is not None and default not in files:
            raise InvalidInsertURI(f"the default document {default!r} is not among the files")
        chosen = (
            default if default is not None else (DEFAULT_NAME if DEFAULT_NAME in files else None)
        )
        if chosen is not None and "/" in chosen.strip("/"):
            raise InvalidInsertURI("the default document must be at the top of the site")
        t = self._transfer(
            progress, send=not get_chk_only, extra_single=extra_single, extra_header=extra_header
        )
        encrypt = not isinstance(target, CHKURI)
        codec_list = tuple(codecs)
        entries: dict[str, Document] = {}
        budget = [INLINE_SITE_LIMIT]
        limiter = anyio.CapacityLimiter(SITE_FILE_CONCURRENCY)

        async def one(name: str, item: SiteFile) -> None:
            async with limiter:
                if item.target is not None:
                    entries[name] = Redirect(target=str(as_uri(item.target)), mime=item.mime)
                    return
                data = await anyio.to_thread.run_sync(item.read)
                mime = item.mime or guess_mime(name)
                doc = await self._file_doc(t, data, mime, codec_list, encrypt, key_seed)
                entries[name] = await self._site_entry(t, doc, budget=budget, encrypt=encrypt)

        with collapse_groups():
            async with anyio.create_task_group() as tg:
                for name, item in sorted(files.items()):
                    tg.start_soon(one, name, item)
        manifest = build_manifest(entries, chosen.strip("/") if chosen else None)
        return await self._publish(t, target, manifest)

    async def put_redirect(
        self,
        target_uri: str | URI,
        uri: str | URI,
        *,
        mime: str | None = None,
        get_chk_only: bool = False,
        progress: ProgressCallback | None = None,
        extra_single: int = DEFAULT_EXTRA_INSERTS,
        extra_header: int = DEFAULT_EXTRA_INSERTS,
    ) -> str:
        """Insert a redirect to ``target_uri`` under ``uri``; return its request URI.

        ``extra_*`` as for :meth:`put` (a redirect under a CHK is a header block).
        """
        target = self._insert_target(uri)
        t = self._transfer(
            progress, send=not get_chk_only, extra_single=extra_single, extra_header=extra_header
        )
        doc = Redirect(target=str(as_uri(target_uri)), mime=mime)
        return await self._publish(t, target, doc)

    def _insert_target(self, uri: str | URI) -> URI:
        try:
            target = as_uri(uri)
        except InvalidRequestURI as exc:
            raise InvalidInsertURI(str(exc)) from None
        if isinstance(target, CHKURI):
            if not target.is_insert_form:
                raise InvalidInsertURI("insert to CHK@ (or CHK@/name): a CHK is computed")
            if len(target.path) > 1:
                raise InvalidInsertURI("a CHK insert takes at most one file name after CHK@/")
        elif isinstance(target, SSKURI | USKURI):
            if not target.is_insert:
                raise InvalidInsertURI(
                    "this is a request key; inserting needs the insert key (from keygen)"
                )
            if target.path:
                raise InvalidInsertURI("an insert key cannot have a path after its name")
            if isinstance(target, SSKURI) and not target.docname:
                raise InvalidInsertURI("an SSK insert needs a document name: SSK@…/name")
        elif target.path:
            raise InvalidInsertURI("a KSK insert cannot have a path after its keyword")
        return target

    async def _file_doc(
        self,
        t: Transfer,
        data: bytes,
        mime: str,
        codecs: Iterable[Codec],
        encrypt: bool,
        key_seed: bytes | None = None,
    ) -> FileDoc:
        codec_list = tuple(codecs)
        codec, payload = await anyio.to_thread.run_sync(compress, data, codec_list)
        digest = await anyio.to_thread.run_sync(content_hash, data)
        crypt_key = None
        if encrypt:
            crypt_key = new_key() if key_seed is None else hash_for(KEY_CONTEXT, key_seed, digest)

        def content(**where: object) -> Content:
            return Content(
                size=len(data),
                hash=digest,
                codec=codec,
                payload_size=len(payload),
                crypt_key=crypt_key,
                **where,  # type: ignore[arg-type]
            )

        if len(payload) <= CHK_DATA_SIZE:
            stored = payload if crypt_key is None else keystream_xor(crypt_key, 0, payload)
            doc = FileDoc(mime=mime, content=content(inline=stored))
            if len(encode_document(doc)) <= CHK_DATA_SIZE:
                return doc
        segments = await insert_payload(t, payload, crypt_key)
        return FileDoc(mime=mime, content=content(segments=segments))

    async def _site_entry(
        self, t: Transfer, doc: FileDoc, *, budget: list[int], encrypt: bool
    ) -> Document:
        inline = doc.content.inline
        if inline is not None and len(inline) <= INLINE_FILE_LIMIT and budget[0] >= len(inline):
            budget[0] -= len(inline)
            return doc
        return Redirect(target=str(await self._store_doc(t, doc, encrypt=encrypt)))

    async def _store_doc(self, t: Transfer, doc: Document, *, encrypt: bool) -> CHKURI:
        """Insert a document as one metadata CHK, splitting it when it is too big."""
        for _level in range(MAX_METADATA_LEVELS + 1):
            raw = encode_document(doc)
            if len(raw) <= CHK_DATA_SIZE:
                block, chk = insert_chk(raw, metadata=True)
                # A file with its content inline is whole in this block; anything
                # else (split content, split metadata, manifest, redirect) points on.
                whole = isinstance(doc, FileDoc) and doc.content.inline is not None
                await insert_block(t, block, single=whole)
                return chk
            inner = await self._file_doc(t, raw, DEFAULT_MIME, ALL_CODECS, encrypt, _SEED_META)
            doc = MetaDoc(content=inner.content)
        raise TooLargeForKey("the metadata is too large to insert")  # pragma: no cover

    async def _publish(self, t: Transfer, target: URI, doc: Document) -> str:
        if isinstance(target, CHKURI):
            return str(await self._store_doc(t, doc, encrypt=False))
        raw = encode_document(doc)
        if len(raw) > SSK_DATA_SIZE:
            chk = await self._store_doc(t, doc, encrypt=True)
            raw = encode_document(Redirect(target=str(chk)))
            if len(raw) > SSK_DATA_SIZE:  # pragma: no cover - a CHK URI is ~100 bytes
                raise TooLargeForKey("the redirect does not fit in a signed block")
        if isinstance(target, KSKURI):
            await insert_block(t, insert_ssk(ksk_as_ssk(target), raw), single=True)
            return str(target)
        if isinstance(target, SSKURI):
            await insert_block(t, insert_ssk(target, raw), single=True)
            return str(target.public())
        return await self._publish_usk(t, target, raw)

    async def _publish_usk(self, t: Transfer, usk: USKURI, raw: bytes) -> str:
        public = usk.public()
        edition = max(usk.edition, 0)
        if t.network is None:
            return str(public.with_edition(edition))
        with contextlib.suppress(DataNotFound):
            latest, _doc = await find_latest(
                self._fetch_signed, public.with_edition(edition), self.editions, when=self.clock()
            )
            edition = max(edition, latest + 1)
        for _ in range(MAX_EDITION_COLLISIONS):
            try:
                await insert_block(t, insert_ssk(usk.to_ssk(edition), raw), single=True)
                break
            except Collision:
                edition += 1
        else:
            raise Collision(
                f"editions up to {edition} are all taken by other content; "
                "insert at a higher edition",
                existing=None,
            )
        self.editions.observe(public, edition)
        await self._insert_hints(t, usk, edition)
        return str(public.with_edition(edition))

    async def _insert_hints(self, t: Transfer, usk: USKURI, edition: int) -> None:
        raw = encode_document(Hint(edition=edition))
        for period in hint_periods(self.clock()):
            # The first edition of a period owns its hint; later ones collide,
            # harmlessly. Best effort: one try per copy, not counted in progress.
            with contextlib.suppress(NetworkError):
                block = insert_ssk(hint_ssk(usk, period), raw)
                await insert_copies(t, block, extra=t.extra_single, retries=0)

    # --- get ---------------------------------------------------------------------------

    async def get(
        self,
        uri: str | URI,
        sink: Sink,
        *,
        max_size: int | None = None,
        max_redirects: int = MAX_REDIRECTS,
        progress: ProgressCallback | None = None,
    ) -> FetchResult:
        """Fetch ``uri`` into ``sink``; follow keys, redirects, split metadata and paths.

        Raises a :class:`~node.client.errors.FetchError` or
        :class:`~node.client.errors.NetworkError` saying why it failed; nothing
        is written to ``sink`` before the file's metadata has been checked
        (size against ``max_size`` included).
        """
        start = as_uri(uri)
        t = self._transfer(progress)
        path = [p for p in start.path if p]
        doc, where = await self._root(t, _without_path(start))
        levels = redirects = 0
        mime_override: str | None = None
        while True:
            if isinstance(doc, bytes):
                if path:
                    raise TooManyPathComponents(
                        f"{where} is a plain block, not a site: remove the path", where
                    )
                self._check_size(len(doc), max_size, mime_override)
                t.progress.add(finalized=True)
                await sink.write(doc)
                return FetchResult(uri=where, mime=mime_override or DEFAULT_MIME, size=len(doc))
            if isinstance(doc, MetaDoc):
                levels += 1
                if levels > MAX_METADATA_LEVELS:
                    raise TooManyMetadataLevels(
                        f"the metadata is split into more than {MAX_METADATA_LEVELS} levels"
                    )
                if doc.content.size > MAX_METADATA_SIZE:
                    raise InvalidMetadata("the split metadata is impossibly large")
                buf = BytesSink(MAX_METADATA_SIZE)
                await fetch_content(t, doc.content, buf)
                doc = parse_document(buf.getvalue())
                continue
            if isinstance(doc, Redirect):
                redirects += 1
                if redirects > max_redirects:
                    raise TooManyRedirects(
                        f"more than {max_redirects} redirects: the keys probably form a loop"
                    )
                target = doc.uri
                path = [p for p in target.path if p] + path
                mime_override = doc.mime or mime_override
                doc, where = await self._root(t, _without_path(target))
                continue
            if isinstance(doc, Manifest):
                if path:
                    name = path.pop(0)
                    entry = doc.entries.get(name)
                    if entry is None:
                        raise PathNotFound(f"{name!r} is not in the site at {where}")
                    where = f"{where}/{name}"
                    doc = entry
                elif doc.default is not None and doc.default in doc.entries:
                    doc = doc.entries[doc.default]
                else:
                    names = ", ".join(sorted(doc.entries)[:10])
                    raise NotEnoughPathComponents(
                        f"{where} is a site without a default document; add a name: {names}"
                    )
                continue
            if isinstance(doc, FileDoc):
                if path:
                    raise TooManyPathComponents(
                        f"{where} is a file, not a site: remove {'/'.join(path)!r}", where
                    )
                mime = mime_override or doc.mime
                self._check_size(doc.content.size, max_size, mime)
                t.progress.add(finalized=True)
                await fetch_content(t, doc.content, sink)
                return FetchResult(uri=where, mime=mime, size=doc.content.size)
            raise InvalidMetadata("the key holds a USK date hint, not content")

    async def get_bytes(
        self,
        uri: str | URI,
        *,
        max_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> tuple[FetchResult, bytes]:
        """:meth:`get` into memory."""
        sink = BytesSink()
        result = await self.get(uri, sink, max_size=max_size, progress=progress)
        return result, sink.getvalue()

    async def check(
        self,
        uri: str | URI,
        *,
        repair: bool = False,
        local: LocalCopy | None = None,
        on_segment: SegmentCallback | None = None,
        progress: ProgressCallback | None = None,
    ) -> CheckReport:
        """Probe every block reachable from ``uri``; with ``repair`` re-insert the
        missing ones (from ``local`` if given, else by FEC). See :mod:`node.client.check`.

        A path after the key names one file of a site; the whole site is checked.
        """
        return await check_key(
            self._transfer(progress),
            self._root,
            _without_path(as_uri(uri)),  # a path names a file in a site: check the site
            repair=repair,
            local=local,
            on_segment=on_segment,
        )

    @staticmethod
    def _check_size(size: int, max_size: int | None, mime: str | None) -> None:
        if max_size is not None and size > max_size:
            raise TooBig(
                f"the file is {size} bytes, more than the {max_size} allowed; "
                "raise the size limit to fetch it",
                expected_size=size,
                mime=mime,
            )

    async def _root(self, t: Transfer, uri: URI) -> tuple[Document | bytes, str]:
        """The document (or raw block) a key holds, and the key it was found under."""
        if isinstance(uri, USKURI):
            edition, doc = await find_latest(
                self._fetch_signed, uri, self.editions, when=self.clock()
            )
            return doc, str(uri.public().with_edition(edition))
        if isinstance(uri, CHKURI) and uri.is_insert_form:
            raise InvalidRequestURI("CHK@ without keys is an insert key; it names no content")
        kind, routing_key = request_key(uri)
        block = await fetch_block(t, kind, routing_key)
        try:
            raw = decode_block(uri, block)
        except CryptoError as exc:
            raise BlockDecodeError(f"the block for {uri} failed to decode: {exc}") from None
        shown = uri.public() if isinstance(uri, SSKURI) else uri
        if kind is KeyKind.CHK and isinstance(uri, CHKURI) and not uri.extra.metadata:
            return raw, str(shown)
        return parse_document(raw), str(shown)

    async def _fetch_signed(self, ssk: SSKURI) -> Document | None:
        block = await self.network.fetch(KeyKind.SSK, ssk.routing_key)
        try:
            return parse_document(decode_block(ssk, block))
        except (CryptoError, InvalidMetadata):
            return None

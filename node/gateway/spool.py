"""A sealed temporary file that one writer fills and many readers read while it grows.

Fetched content is kept here between the client layer and the HTTP responses
that read it, so that a large file is never held in memory, a ``Range`` request
can seek anywhere already fetched, and several readers (a video player opening
two connections) share one fetch. The file is created in a private directory
and unlinked at once, so nothing of it survives the process, and every byte on
disk is XORed with an XChaCha20 keystream under a random key that only this
object holds (the keystream of :func:`node.client.crypt.keystream_xor`, one
nonce per :data:`CHUNK`): the node's rule that the reader's plaintext never
reaches the disk holds even for the page cache's write-back.

Writes are buffered to whole chunks; the tail of an unfinished chunk stays in
memory and is readable from there.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import anyio

from node.client.crypt import keystream_xor, new_key

CHUNK = 64 * 1024  # one keystream nonce per chunk; a read decrypts whole chunks


class SpoolClosed(Exception):
    """The spool was discarded (evicted or its fetch failed) while being read."""


class Spool:
    """Append-only sealed storage with a growing readable length.

    Args:
        directory: where the (immediately unlinked) file is created.
    """

    def __init__(self, directory: Path | None = None) -> None:
        fd, name = tempfile.mkstemp(prefix="spool-", dir=directory)
        os.unlink(name)
        self._fd: int | None = fd
        self._key = new_key()
        self._tail = bytearray()
        self._flushed = 0  # bytes on disk: a multiple of CHUNK until finish()
        self._finished = False
        self._grew = anyio.Event()

    @property
    def available(self) -> int:
        """Bytes that can be read now."""
        return self._flushed + len(self._tail)

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def closed(self) -> bool:
        return self._fd is None

    def _wake(self) -> None:
        self._grew.set()
        self._grew = anyio.Event()

    async def write(self, data: bytes, /) -> None:
        """Append ``data`` (the client layer's sink protocol)."""
        self.write_now(data)
        await anyio.lowlevel.checkpoint()

    def write_now(self, data: bytes) -> None:
        """Append ``data`` without yielding (for parser callbacks)."""
        if self._fd is None:
            raise SpoolClosed("the spool was discarded")
        self._tail += data
        while len(self._tail) >= CHUNK:
            self._flush(bytes(self._tail[:CHUNK]))
            del self._tail[:CHUNK]
        self._wake()

    def _flush(self, chunk: bytes) -> None:
        assert self._fd is not None
        index = self._flushed // CHUNK
        os.pwrite(self._fd, keystream_xor(self._key, index, chunk), self._flushed)
        self._flushed += len(chunk)

    def finish(self) -> None:
        """No more writes: the tail goes to disk too."""
        if self._fd is not None and self._tail:
            self._flush(bytes(self._tail))
            self._tail.clear()
        self._finished = True
        self._wake()

    def close(self) -> None:
        """Discard the data; readers waiting or reading get :class:`SpoolClosed`."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._tail.clear()
        self._wake()

    async def wait_grown(self, than: int) -> None:
        """Wait until more than ``than`` bytes are available, or the spool is finished."""
        while self.available <= than and not self._finished:
            if self._fd is None:
                raise SpoolClosed("the spool was discarded")
            await self._grew.wait()

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset`` of what is available (short at the end)."""
        if self._fd is None:
            raise SpoolClosed("the spool was discarded")
        end = min(offset + size, self.available)
        if offset >= end:
            return b""
        out = bytearray()
        disk_end = min(end, self._flushed)
        position = offset
        while position < disk_end:
            index = position // CHUNK
            chunk_start = index * CHUNK
            length = min(CHUNK, self._flushed - chunk_start)
            sealed = os.pread(self._fd, length, chunk_start)
            plain = keystream_xor(self._key, index, sealed)
            take_end = min(disk_end, chunk_start + length)
            out += plain[position - chunk_start : take_end - chunk_start]
            position = take_end
        if position < end:
            out += self._tail[position - self._flushed : end - self._flushed]
        return bytes(out)

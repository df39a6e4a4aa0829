"""Compression for inserted content: pick the smallest codec, decompress as a stream.

Codecs are the three in the standard library: ``zlib`` (DEFLATE, what Freenet
calls GZIP), ``bz2`` and ``lzma`` (xz container). Every one is run with fixed
settings and no timestamps, so identical content compresses to identical bytes
on the same library versions and identical content gives an identical CHK.

Choosing (``specs/client.md`` §Compression): a quick probe with zlib level 1 on
up to four 64 KiB samples spread over the data skips compression for content
that does not shrink (media, archives, encrypted files) without paying for
lzma on it. Otherwise data up to ``FULL_TRIAL_LIMIT`` is compressed with every
allowed codec and the smallest output is kept; larger data picks the codec that
wins on a 1 MiB sample and compresses once with it. Output that is not smaller
than the input is discarded and the content is stored as is.
"""

from __future__ import annotations

import bz2
import enum
import lzma
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from node.client.errors import BlockDecodeError


class Codec(enum.Enum):
    """A compression codec; the value is the name written in metadata."""

    NONE = "none"
    ZLIB = "zlib"
    BZ2 = "bz2"
    LZMA = "lzma"


# FCP speaks Freenet's names (``CompressionCodecs``, ``Codecs=GZIP, BZIP2``).
FCP_NAMES: dict[str, Codec] = {"GZIP": Codec.ZLIB, "BZIP2": Codec.BZ2, "LZMA": Codec.LZMA}
ALL_CODECS: tuple[Codec, ...] = (Codec.ZLIB, Codec.BZ2, Codec.LZMA)

PROBE_SAMPLES = 4
PROBE_SAMPLE_SIZE = 64 * 1024
# A probe that saves less than 1/32 means compression would save less than one
# block in 32 and cost far more CPU than the network time it saves.
PROBE_MIN_SAVING = 1 / 32
# Up to 1 MiB every codec runs on the whole data (bz2 and lzma manage about
# 5 MB/s on text, so trying all three costs well under a second); above it a
# sample decides, so a 64 MiB insert compresses once.
FULL_TRIAL_LIMIT = 1024 * 1024
SAMPLE_TRIAL_SIZE = 1024 * 1024
ZLIB_LEVEL = 9
BZ2_LEVEL = 9
LZMA_PRESET = 6


def compress_with(codec: Codec, data: bytes) -> bytes:
    """``data`` compressed with ``codec`` (deterministic: fixed levels, no timestamps)."""
    if codec is Codec.NONE:
        return data
    if codec is Codec.ZLIB:
        return zlib.compress(data, ZLIB_LEVEL)
    if codec is Codec.BZ2:
        return bz2.compress(data, BZ2_LEVEL)
    return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, preset=LZMA_PRESET)


def _sample(data: bytes, count: int, size: int) -> bytes:
    if len(data) <= count * size:
        return data
    step = (len(data) - size) // (count - 1)
    return b"".join(data[i * step : i * step + size] for i in range(count))


def looks_compressible(data: bytes) -> bool:
    """A cheap guess: does zlib level 1 shrink samples of ``data`` noticeably?"""
    sample = _sample(data, PROBE_SAMPLES, PROBE_SAMPLE_SIZE)
    if not sample:
        return False
    return len(zlib.compress(sample, 1)) < len(sample) * (1 - PROBE_MIN_SAVING)


def compress(data: bytes, codecs: Iterable[Codec] = ALL_CODECS) -> tuple[Codec, bytes]:
    """The smallest of ``data`` under each allowed codec, or ``(NONE, data)``.

    Blocking and CPU-bound (the codecs release the GIL): call it from a worker
    thread. Deterministic for given data and codecs.
    """
    allowed = [c for c in dict.fromkeys(codecs) if c is not Codec.NONE]
    if not allowed or not looks_compressible(data):
        return Codec.NONE, data
    if len(data) <= FULL_TRIAL_LIMIT:
        candidates = allowed
    else:
        sample = _sample(data, 4, SAMPLE_TRIAL_SIZE // 4)
        with ThreadPoolExecutor(len(allowed)) as pool:
            sizes = list(pool.map(lambda c: len(compress_with(c, sample)), allowed))
        candidates = [allowed[sizes.index(min(sizes))]]
    with ThreadPoolExecutor(len(candidates)) as pool:
        outputs = list(pool.map(lambda c: compress_with(c, data), candidates))
    best = min(range(len(candidates)), key=lambda i: (len(outputs[i]), i))
    if len(outputs[best]) >= len(data):
        return Codec.NONE, data
    return candidates[best], outputs[best]


class Decompressor:
    """Incremental decompression bounded by the size the metadata promises.

    ``feed`` returns what is ready; ``finish`` checks the stream ended exactly at
    ``expected_size``. Output beyond the expected size is refused at once, so a
    hostile "decompression bomb" costs at most ``expected_size`` bytes of memory.
    """

    def __init__(self, codec: Codec, expected_size: int) -> None:
        self.codec = codec
        self.expected = expected_size
        self.produced = 0
        self._obj: Any
        if codec is Codec.ZLIB:
            self._obj = zlib.decompressobj()
        elif codec is Codec.BZ2:
            self._obj = bz2.BZ2Decompressor()
        elif codec is Codec.LZMA:
            self._obj = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        else:
            self._obj = None

    def feed(self, chunk: bytes) -> bytes:
        """Decompress ``chunk``; raise :class:`BlockDecodeError` on damage or excess."""
        if self._obj is None:
            out = chunk
        else:
            room = self.expected - self.produced + 1
            try:
                if self.codec is Codec.ZLIB:
                    out = self._obj.decompress(chunk, room)
                    if self._obj.unconsumed_tail:
                        raise BlockDecodeError("the content decompresses to more than its size")
                else:
                    out = self._obj.decompress(chunk, room)
                    if not self._obj.needs_input and not self._obj.eof:
                        raise BlockDecodeError("the content decompresses to more than its size")
            except (zlib.error, OSError, lzma.LZMAError, EOFError) as exc:
                raise BlockDecodeError(f"the content failed to decompress ({exc})") from None
        self.produced += len(out)
        if self.produced > self.expected:
            raise BlockDecodeError("the content is larger than its metadata says")
        return out

    def finish(self) -> None:
        """Raise :class:`BlockDecodeError` unless the whole stream was consumed exactly."""
        if self._obj is not None and not self._obj.eof:
            raise BlockDecodeError("the compressed content is truncated")
        if self._obj is not None and self._obj.unused_data:
            raise BlockDecodeError("the compressed content has trailing bytes")
        if self.produced != self.expected:
            raise BlockDecodeError(
                f"the content is {self.produced} bytes but its metadata says {self.expected}"
            )


def decompress(codec: Codec, data: bytes, expected_size: int) -> bytes:
    """One-shot :class:`Decompressor`."""
    d = Decompressor(codec, expected_size)
    out = d.feed(data)
    d.finish()
    return out

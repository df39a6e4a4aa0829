"""Segments and erasure coding: how a payload becomes CHK blocks and back.

The payload is cut into 32 KiB data blocks (the last one padded with zeros),
the blocks are grouped into segments of at most ``MAX_SEGMENT_DATA`` data
blocks, and each segment gets check blocks from a systematic Reed–Solomon code
over GF(2^8) (the data blocks are stored as they are). Any ``k`` of a
segment's ``n`` blocks rebuild it. Two codes, named in each segment's metadata
(:class:`FecCodec`): ISA-L's Cauchy Reed–Solomon for new inserts, ~10–20x
faster than zfec, and zfec, which content inserted before still uses.
``specs/client.md`` §Segments and FEC gives the measurements behind the numbers.

The functions here are pure and module-level so a process pool can run them;
:class:`CpuPool` runs them off the event loop.
"""

from __future__ import annotations

import concurrent.futures
import enum
import functools
import multiprocessing
import os
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

import anyio
import zfec
from pyeclib.ec_iface import ECDriver, ECDriverError

from crypto.chk import CHK_DATA_SIZE, encode_chk
from node.client.crypt import keystream_xor

T = TypeVar("T")

BLOCK_SIZE = CHK_DATA_SIZE
# 64+64 keeps a segment alive through the loss of any half of its blocks and
# bounds a segment to 8 MiB (4 segments are encoded or fetched at once). FEC
# cost no longer decides it: ISA-L encodes 64+64 at ~300 MB/s per core (zfec,
# which chose 64 over Freenet's 128, did 31.5 MB/s/core at 64+64 and 16.6 at
# 128+128, bench/client_bench.py). See the spec for the reliability sums.
MAX_SEGMENT_DATA = 64
# GF(2^8) allows at most 256 blocks per segment (zfec and ISA-L alike).
MAX_SEGMENT_BLOCKS = 256
# Small segments get extra check blocks: losing 2 of 2+2 kills a segment, 2 of 2+6 does not.
MIN_CHECK_BLOCKS = 8


class FecCodec(enum.StrEnum):
    """The erasure code of a segment, as named in its metadata."""

    # zfec: Vandermonde-derived systematic RS (zfec's own matrix). What every
    # segment inserted before ISAL_CAUCHY used; metadata without a name means it.
    ZFEC = "zfec"
    # ISA-L's Cauchy RS through pyeclib: check block r of a k-block segment is
    # the sum over j of data block j times 1 / (r XOR j) in GF(2^8) (polynomial
    # 0x11d), ISA-L's gf_gen_cauchy1_matrix. MDS for every k + m <= 256.
    ISAL_CAUCHY = "isal-cauchy"


# What new inserts use: ~300 MB/s per core at 64+64 against zfec's ~30 (spec).
DEFAULT_FEC = FecCodec.ISAL_CAUCHY
# pyeclib's backend name for ISAL_CAUCHY. Never "isa_l_rs_vand": ISA-L's
# Vandermonde matrix is not MDS beyond a few check blocks (some losses of m
# blocks cannot be decoded).
_PYECLIB_TYPE = "isa_l_rs_cauchy"


def check_blocks_for(k: int) -> int:
    """Check blocks for a segment of ``k`` data blocks: 100%, at least 8 when k > 1.

    A one-block segment gets none: zfec's check blocks for k = 1 are copies of
    the data block, which convergent encryption turns into the very same CHK.
    """
    if k <= 1:
        return 0
    return min(max(k, MIN_CHECK_BLOCKS), 3 * k, MAX_SEGMENT_BLOCKS - k)


def plan_segments(data_blocks: int, max_k: int = MAX_SEGMENT_DATA) -> list[tuple[int, int]]:
    """``(k, n)`` per segment: as few segments as ``max_k`` allows, sizes differing by ≤ 1.

    Even sizes avoid a weak little last segment (Freenet does the same).
    """
    if data_blocks <= 0:
        return []
    count = -(-data_blocks // max_k)
    base, extra = divmod(data_blocks, count)
    sizes = [base + 1] * extra + [base] * (count - extra)
    return [(k, k + check_blocks_for(k)) for k in sizes]


def split_blocks(payload: bytes) -> list[bytes]:
    """``payload`` cut into 32 KiB blocks, the last zero-padded (empty → no blocks)."""
    blocks = [payload[i : i + BLOCK_SIZE] for i in range(0, len(payload), BLOCK_SIZE)]
    if blocks and len(blocks[-1]) < BLOCK_SIZE:
        blocks[-1] = blocks[-1] + bytes(BLOCK_SIZE - len(blocks[-1]))
    return blocks


def encode_checks(data: Sequence[bytes], n: int, codec: FecCodec = DEFAULT_FEC) -> list[bytes]:
    """The ``n - k`` check blocks of one segment (all blocks the same length)."""
    k = len(data)
    if n == k:
        return []
    _check_shape(data, k, n)
    if codec is FecCodec.ZFEC:
        return [bytes(b) for b in zfec.Encoder(k, n).encode(list(data), list(range(k, n)))]
    driver, headers = _isal(k, n - k, len(data[0]))
    fragments = driver.encode(b"".join(data))
    at = len(headers[0])
    if [f[:at] for f in fragments] != list(headers):
        raise RuntimeError("pyeclib's fragment headers depend on the data: cannot use them")
    return [f[at:] for f in fragments[k:]]


def decode_segment(
    blocks: dict[int, bytes], k: int, n: int, codec: FecCodec = DEFAULT_FEC
) -> list[bytes]:
    """The ``k`` data blocks of a segment from any ``k`` of its blocks (index → bytes)."""
    if len(blocks) < k:
        raise ValueError(f"a segment needs {k} blocks to decode, not {len(blocks)}")
    if all(i in blocks for i in range(k)):
        return [blocks[i] for i in range(k)]
    chosen = sorted(blocks)[:k]
    _check_shape([blocks[i] for i in chosen], k, n)
    if chosen[0] < 0 or chosen[-1] >= n:
        raise ValueError(f"blocks {chosen} are not all in a segment of {n} blocks")
    if codec is FecCodec.ZFEC:
        out = zfec.Decoder(k, n).decode([blocks[i] for i in chosen], chosen)
        return [bytes(b) for b in out]
    size = len(blocks[chosen[0]])
    driver, headers = _isal(k, n - k, size)
    # A fragment is its header (the same for every segment of this shape, see
    # _isal) and the block: the checks are exactly fragments' payloads.
    try:
        joined = driver.decode([headers[i] + blocks[i] for i in chosen])
    except ECDriverError as exc:  # never expected: the blocks were checked above
        raise ValueError(f"ISA-L could not decode the segment: {exc}") from None
    return [joined[i * size : (i + 1) * size] for i in range(k)]


def _check_shape(blocks: Sequence[bytes], k: int, n: int) -> None:
    if not 1 <= k <= n <= MAX_SEGMENT_BLOCKS:
        raise ValueError(f"a segment of {k} of {n} blocks is impossible")
    size = len(blocks[0]) if blocks else 0
    if size == 0 or any(len(b) != size for b in blocks):
        raise ValueError("a segment's blocks must all have the same, non-zero length")


@functools.lru_cache(maxsize=128)  # shapes in use: a few per file
def _isal(k: int, m: int, size: int) -> tuple[ECDriver, tuple[bytes, ...]]:
    """pyeclib's ISA-L Cauchy driver for ``k + m`` blocks of ``size`` bytes, and headers.

    Created once per worker process and shape (module-level cache; the driver
    is not pickled). pyeclib frames each block as a fragment: a liberasurecode
    header (80 bytes: index, sizes, backend, library version; no checksum with
    ``chksum_type="none"``) then the block. Nothing in the header depends on
    the data, so the headers come from encoding zeros once, and decoding
    rebuilds fragments from bare blocks; :func:`encode_checks` verifies every
    header it sees against these, and the tests check payload = block.
    """
    driver = ECDriver(k=k, m=m, ec_type=_PYECLIB_TYPE, chksum_type="none")
    fragments = driver.encode(bytes(k * size))
    at = len(fragments[0]) - size
    if len(fragments) != k + m or any(len(f) != at + size for f in fragments):
        raise RuntimeError("pyeclib frames blocks in an unexpected way")
    return driver, tuple(f[:at] for f in fragments)


# One encoded block: (index in segment, routing key, decryption key, block bytes).
EncodedBlock = tuple[int, bytes, bytes, bytes]


def encode_segment(
    data: Sequence[bytes],
    n: int,
    crypt_key: bytes | None,
    first_index: int,
    codec: FecCodec = DEFAULT_FEC,
) -> list[EncodedBlock]:
    """Encrypt (if ``crypt_key``), FEC-encode and CHK-encode one segment.

    ``first_index`` is the file-wide index of the segment's first data block,
    which picks the keystream. Runs in a worker.
    """
    if crypt_key is not None:
        data = [keystream_xor(crypt_key, first_index + i, b) for i, b in enumerate(data)]
    everything = list(data) + encode_checks(data, n, codec)
    out: list[EncodedBlock] = []
    for i, plain in enumerate(everything):
        block, key = encode_chk(plain)
        out.append((i, block.routing_key, key, block.data))
    return out


def reencode_blocks(
    data: Sequence[bytes], n: int, wanted: Sequence[int], codec: FecCodec = DEFAULT_FEC
) -> list[EncodedBlock]:
    """CHK blocks at ``wanted`` indices of a segment rebuilt from its (stored) data blocks.

    Used for healing: the data blocks are the stored plaintexts (already under
    the keystream, if any). ``codec`` must be the segment's own. Runs in a worker.
    """
    k = len(data)
    checks = encode_checks(data, n, codec) if any(i >= k for i in wanted) else []
    everything = list(data) + checks
    out: list[EncodedBlock] = []
    for i in wanted:
        block, key = encode_chk(everything[i])
        out.append((i, block.routing_key, key, block.data))
    return out


def decode_and_decrypt(
    blocks: dict[int, bytes],
    k: int,
    n: int,
    crypt_key: bytes | None,
    first_index: int,
    codec: FecCodec = DEFAULT_FEC,
) -> tuple[list[bytes], bytes]:
    """FEC-decode one segment; return its stored data blocks and its payload bytes."""
    data = decode_segment(blocks, k, n, codec)
    if crypt_key is None:
        return data, b"".join(data)
    plain = [keystream_xor(crypt_key, first_index + i, b) for i, b in enumerate(data)]
    return data, b"".join(plain)


class CpuPool:
    """Runs CPU-bound functions off the event loop, in threads or in processes.

    zfec holds the GIL while it encodes (two threads encode no faster than one:
    17.1 vs 18.1 MB/s at 128+128), and keystream and CHK encryption are per-block
    Python calls, so the node uses processes, one per core;
    tests use threads, which start instantly. An async context manager: the
    processes are shut down on exit.
    """

    def __init__(self, workers: int | None = None, *, processes: bool = False) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.processes = processes
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        # Twice the workers keeps the next job queued while one finishes.
        self._limiter = anyio.CapacityLimiter(self.workers * (2 if processes else 1))

    async def __aenter__(self) -> CpuPool:
        if self.processes:
            self._executor = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn")
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._executor is not None:
            executor, self._executor = self._executor, None
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(executor.shutdown)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker; the result, or the worker's exception."""
        if self._executor is None:
            return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)
        async with self._limiter:
            future = self._executor.submit(fn, *args)
            try:
                return await anyio.to_thread.run_sync(future.result, abandon_on_cancel=True)
            except BaseException:
                future.cancel()
                raise

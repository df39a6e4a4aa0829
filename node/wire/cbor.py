"""Canonical CBOR heads for the codec: the shortest head of an item, and its length.

A CBOR item starts with a head (RFC 8949 §3): the major type in the top three
bits, then the argument, in the low five bits below 24, else in the next 1, 2,
4 or 8 bytes (low bits 24 to 27). Canonical form writes every argument in the
shortest of these: :func:`head` writes it, :func:`head_size` says how long it is.
"""

from __future__ import annotations

import struct

UINT, NINT, BYTES, TEXT, ARRAY, MAP = range(6)
"""The major types the codec writes (floats and simple values go through cbor2)."""
NULL, FALSE, TRUE = b"\xf6", b"\xf4", b"\xf5"

_SMALL_HEADS = tuple(tuple(bytes([major << 5 | n]) for n in range(24)) for major in range(8))
_PACK_1 = struct.Struct(">BB").pack
_PACK_2 = struct.Struct(">BH").pack
_PACK_4 = struct.Struct(">BI").pack
_PACK_8 = struct.Struct(">BQ").pack


def head(major: int, n: int) -> bytes:
    """The shortest head of ``major`` with argument ``0 <= n < 2**64``."""
    if n < 24:
        return _SMALL_HEADS[major][n]
    major <<= 5
    if n < 0x100:
        return _PACK_1(major | 24, n)
    if n < 0x10000:
        return _PACK_2(major | 25, n)
    if n < 0x100000000:
        return _PACK_4(major | 26, n)
    return _PACK_8(major | 27, n)


def head_size(n: int) -> int:
    """The length of :func:`head` for the argument ``n``."""
    return 1 if n < 24 else 2 if n < 0x100 else 3 if n < 0x10000 else 5 if n < 0x100000000 else 9

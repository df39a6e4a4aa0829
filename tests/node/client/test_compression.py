"""Compression: smallest codec wins, incompressible data is left alone, bombs are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.client.compression import Codec, Decompressor, compress, compress_with, decompress
from node.client.errors import BlockDecodeError

from .helpers import payload


def test_text_is_compressed_and_random_is_not() -> None:
    text = b"the quick brown fox jumps over the lazy dog " * 2000
    codec, out = compress(text)
    assert codec is not Codec.NONE and len(out) < len(text) // 10
    assert decompress(codec, out, len(text)) == text
    rnd = payload(200_000)
    assert compress(rnd) == (Codec.NONE, rnd)
    assert compress(text, ()) == (Codec.NONE, text)


def test_large_data_uses_a_sample_and_one_codec() -> None:
    text = (b"line %d of a log file, nothing to see\n" * 1) * 1
    big = b"".join(b"line %d of a log file, nothing to see\n" % i for i in range(60_000))
    assert len(big) > 1024 * 1024
    codec, out = compress(big)
    assert codec is not Codec.NONE
    assert decompress(codec, out, len(big)) == big
    assert text


@given(st.binary(max_size=3000), st.sampled_from(list(Codec)))
def test_every_codec_round_trips_in_pieces(data: bytes, codec: Codec) -> None:
    packed = compress_with(codec, data)
    d = Decompressor(codec, len(data))
    out = b"".join(d.feed(packed[i : i + 7]) for i in range(0, len(packed), 7))
    d.finish()
    assert out == data


@pytest.mark.parametrize("codec", [Codec.ZLIB, Codec.BZ2, Codec.LZMA])
def test_bombs_and_damage_are_refused(codec: Codec) -> None:
    bomb = compress_with(codec, bytes(1_000_000))
    with pytest.raises(BlockDecodeError):
        decompress(codec, bomb, 1000)
    good = compress_with(codec, b"hello world" * 100)
    with pytest.raises(BlockDecodeError):
        decompress(codec, good[: len(good) // 2], 1100)
    with pytest.raises(BlockDecodeError):
        decompress(codec, good + b"junk", 1100)
    with pytest.raises(BlockDecodeError):
        decompress(codec, b"\x00" * 40, 10)

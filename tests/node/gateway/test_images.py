"""Image rebuilding: metadata gone, drawing data kept, malformed files rejected."""

from __future__ import annotations

import contextlib
import struct
import zlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.gateway.filter.gif import strip_gif
from node.gateway.filter.images import ImageRejected, filter_image
from node.gateway.filter.jpeg import exif_orientation, strip_jpeg
from node.gateway.filter.png import strip_png
from node.gateway.filter.webp import strip_webp

SECRET = b"GPS 51.5N 0.1W Alice's camera"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_png(*extra: bytes, trailer: bytes = b"") -> bytes:
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    idat = png_chunk(b"IDAT", zlib.compress(b"\x00\x00"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(extra) + idat + png_chunk(b"IEND", b"") + trailer


def seg(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def exif(orientation: int) -> bytes:
    entries = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    entries += struct.pack(">HHII", 0x010F, 2, 4, 0x41424300)  # Make: "ABC"
    tiff = b"MM" + struct.pack(">HI", 42, 8) + struct.pack(">H", 2) + entries + b"\0\0\0\0"
    return seg(0xE1, b"Exif\x00\x00" + tiff + SECRET)


def make_jpeg(*extra: bytes, trailer: bytes = b"") -> bytes:
    jfif = seg(0xE0, b"JFIF\x00\x01\x02\x00\x00\x48\x00\x48\x05\x05" + b"\x00" * 75)  # thumbnail
    dqt = seg(0xDB, b"\x00" + bytes(range(64)))
    sof = seg(0xC0, b"\x08\x00\x01\x00\x01\x01\x01\x11\x00")
    dht = seg(0xC4, b"\x00" + b"\x01" + b"\x00" * 15 + b"\x00")
    sos = seg(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    scan = b"\x12\xff\x00\x34\xff\xd0\x56"
    return (b"\xff\xd8" + jfif + b"".join(extra) + dqt + sof + dht + sos + scan + b"\xff\xd9"
            + trailer)  # fmt: skip


def make_gif(*extra: bytes, trailer: bytes = b"") -> bytes:
    header = b"GIF89a" + struct.pack("<HH", 1, 1) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
    gce = b"\x21\xf9\x04\x00\x00\x00\x00\x00"
    image = b"\x2c" + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00" + b"\x02\x02\x44\x01\x00"
    return header + b"".join(extra) + gce + image + b"\x3b" + trailer


def riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def make_webp(*chunks: bytes) -> bytes:
    payload = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


VP8L = riff_chunk(b"VP8L", b"\x2f\x00\x00\x00\x00\x00")
VP8X_ALL = riff_chunk(b"VP8X", bytes([0x20 | 0x08 | 0x04]) + b"\x00" * 9)


def test_png_loses_text_time_exif_icc_and_unknown_chunks() -> None:
    dirty = make_png(
        png_chunk(b"tEXt", b"Author\x00" + SECRET),
        png_chunk(b"zTXt", b"c\x00\x00" + zlib.compress(SECRET)),
        png_chunk(b"iTXt", b"c\x00\x00\x00\x00\x00" + SECRET),
        png_chunk(b"tIME", b"\x07\xe8\x01\x01\x00\x00\x00"),
        png_chunk(b"eXIf", SECRET),
        png_chunk(b"iCCP", b"Alice's display\x00\x00" + zlib.compress(SECRET)),
        png_chunk(b"prVt", SECRET),
        png_chunk(b"gAMA", struct.pack(">I", 45455)),
        trailer=SECRET,
    )
    clean = strip_png(dirty)
    assert SECRET not in clean and b"Alice" not in clean
    assert b"gAMA" in clean
    assert clean == make_png(png_chunk(b"gAMA", struct.pack(">I", 45455)))
    assert strip_png(clean) == clean


@pytest.mark.parametrize(
    "bad",
    [
        make_png()[:-5],
        make_png().replace(b"IDAT", b"IDAU", 1),  # breaks the CRC
        make_png(png_chunk(b"CRIT", b"")),  # unknown critical chunk
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IEND", b""),
        make_png().replace(
            struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0),
            struct.pack(">IIBBBBB", 1, 1, 3, 2, 0, 0, 0),
        ),  # bit depth 3 does not exist
    ],
)
def test_malformed_png_is_rejected(bad: bytes) -> None:
    with pytest.raises(ImageRejected):
        strip_png(bad)


def test_jpeg_loses_exif_comments_and_trailers_but_keeps_orientation() -> None:
    dirty = make_jpeg(
        exif(6),
        seg(0xFE, SECRET),
        seg(0xE2, b"ICC_PROFILE\x00" + SECRET),
        seg(0xED, b"Photoshop 3.0\x00" + SECRET),
        trailer=b"PK\x03\x04" + SECRET,
    )
    clean = strip_jpeg(dirty)
    assert SECRET not in clean and b"ABC" not in clean and b"PK\x03\x04" not in clean
    assert clean.startswith(b"\xff\xd8\xff\xe0") and clean.endswith(b"\xff\xd9")
    app1 = clean.index(b"\xff\xe1")
    assert exif_orientation(clean[app1 + 4 : app1 + 4 + 40]) == 6
    assert b"\x12\xff\x00\x34\xff\xd0\x56" in clean  # scan data untouched
    assert strip_jpeg(clean) == clean
    assert len(strip_jpeg(make_jpeg())) < len(make_jpeg())  # the JFIF thumbnail is gone


@pytest.mark.parametrize(
    "bad",
    [
        make_jpeg()[:-2],
        b"\xff\xd8\xff\xd9",
        make_jpeg().replace(b"\xff\xc0", b"\xff\xf7", 1),  # JPEG-LS: not for us
        b"\xff\xd8" + seg(0xDA, b"\x01\x01\x00\x00\x3f\x00") + b"\x00\xff\xd9",
        b"\xff\xd8\xff\xe0\x00",
    ],
)
def test_malformed_jpeg_is_rejected(bad: bytes) -> None:
    with pytest.raises(ImageRejected):
        strip_jpeg(bad)


def test_gif_loses_comments_and_application_data_but_keeps_looping() -> None:
    comment = b"\x21\xfe" + bytes([len(SECRET)]) + SECRET + b"\x00"
    xmp = b"\x21\xff\x0bXMP DataXMP" + bytes([len(SECRET)]) + SECRET + b"\x00"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    text = b"\x21\x01\x0c" + b"\x00" * 12 + bytes([len(SECRET)]) + SECRET + b"\x00"
    clean = strip_gif(make_gif(comment, xmp, loop, text, trailer=SECRET))
    assert SECRET not in clean
    assert clean == make_gif(loop)
    assert strip_gif(clean) == clean


@pytest.mark.parametrize(
    "bad",
    [make_gif()[:-1], make_gif()[:20], b"GIF89a" + b"\x00" * 7 + b"\x3b", make_gif(b"\x99")],
)
def test_malformed_gif_is_rejected(bad: bytes) -> None:
    with pytest.raises(ImageRejected):
        strip_gif(bad)


def test_webp_loses_exif_xmp_icc_and_clears_their_flags() -> None:
    dirty = make_webp(
        VP8X_ALL,
        riff_chunk(b"ICCP", SECRET),
        VP8L,
        riff_chunk(b"EXIF", SECRET),
        riff_chunk(b"XMP ", SECRET),
        riff_chunk(b"ZZZZ", SECRET),
    )
    clean = strip_webp(dirty + SECRET)
    assert SECRET not in clean
    assert clean == make_webp(riff_chunk(b"VP8X", b"\x00" * 10), VP8L)
    assert strip_webp(clean) == clean


@pytest.mark.parametrize(
    "bad",
    [
        make_webp(riff_chunk(b"EXIF", SECRET)),
        make_webp(riff_chunk(b"VP8 ", b"\x00" * 10)),
        make_webp(VP8L)[:-2],
        make_webp(VP8L, VP8X_ALL),
        b"RIFF\xff\xff\xff\xffWEBP" + VP8L,
    ],
)
def test_malformed_webp_is_rejected(bad: bytes) -> None:
    with pytest.raises(ImageRejected):
        strip_webp(bad)


def test_filter_image_dispatches_on_magic_bytes() -> None:
    assert filter_image(make_png())[1] == "image/png"
    assert filter_image(make_jpeg())[1] == "image/jpeg"
    assert filter_image(make_gif())[1] == "image/gif"
    assert filter_image(make_webp(VP8L))[1] == "image/webp"
    with pytest.raises(ImageRejected):
        filter_image(b"<svg onload=alert(1)>")


PARSERS = [strip_png, strip_jpeg, strip_gif, strip_webp, filter_image]
SAMPLES = [make_png(png_chunk(b"tEXt", SECRET)), make_jpeg(exif(3)), make_gif(),
           make_webp(VP8X_ALL, VP8L)]  # fmt: skip


MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"GIF89a", b"RIFF\x40\x00\x00\x00WEBP"]


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
@given(prefix=st.sampled_from(MAGIC), data=st.binary(max_size=300))
def test_arbitrary_bytes_give_a_clean_result_or_a_clean_error(
    parser: Callable[[bytes], object], prefix: bytes, data: bytes
) -> None:
    with contextlib.suppress(ImageRejected):
        parser(prefix + data)


@given(
    sample=st.sampled_from(SAMPLES),
    cut=st.integers(min_value=0, max_value=400),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
)
def test_damaged_images_are_rebuilt_idempotently_or_rejected(
    sample: bytes, cut: int, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(sample[: max(cut, 8)] if cut < len(sample) else sample)
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    try:
        clean, kind = filter_image(bytes(data))
    except ImageRejected:
        return
    assert filter_image(clean) == (clean, kind)
    assert SECRET not in clean

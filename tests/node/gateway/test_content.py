"""The entry points: which types are shown, which are downloads, charsets, streaming."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.gateway.filter import (
    Disposition,
    Handling,
    check_stream_head,
    filter_content,
    plan,
)
from node.gateway.filter.mime import decode_text, parse_mime
from tests.node.gateway.helpers import BASE, CHK
from tests.node.gateway.leakcheck import check_html
from tests.node.gateway.test_images import SECRET, make_gif, make_jpeg, make_png, png_chunk

INLINE, DOWNLOAD = Disposition.INLINE, Disposition.ATTACHMENT_AFTER_WARNING


@pytest.mark.parametrize(
    ("mime", "handling"),
    [
        ("text/html", Handling.FILTER),
        ("text/css; charset=latin1", Handling.FILTER),
        ("image/png", Handling.FILTER),
        ("text/plain", Handling.FILTER),
        ("video/webm", Handling.STREAM),
        ("audio/mpeg", Handling.STREAM),
        ("application/pdf", Handling.DOWNLOAD),
        ("application/zip", Handling.DOWNLOAD),
        ("application/x-msdownload", Handling.DOWNLOAD),
        ("application/octet-stream", Handling.DOWNLOAD),
        ("image/bmp", Handling.DOWNLOAD),
        ("application/vnd.apple.mpegurl", Handling.DOWNLOAD),
        ("garbage", Handling.DOWNLOAD),
    ],
)
def test_plan(mime: str, handling: Handling) -> None:
    assert plan(mime) is handling


@pytest.mark.parametrize(
    "mime",
    [
        "application/pdf",
        "application/zip",
        "application/x-executable",
        "font/woff2",
        "model/gltf+json",
        "",
        "text",
        "image/svg+xml; x",
        "/",
        "a/b/c",
    ],
)
def test_what_the_filter_cannot_vouch_for_is_a_download(mime: str) -> None:
    r = filter_content(b"%PDF-1.7 <script>", mime, base_path=BASE)
    if r.disposition is INLINE:  # the text types: shown as plain text only
        assert r.mime_type == "text/plain; charset=utf-8"
    else:
        assert r.mime_type == "application/octet-stream"
        assert r.reason


def test_html_declared_as_text_plain_stays_text_plain() -> None:
    r = filter_content(b"<script>alert(1)</script>", "text/plain", base_path=BASE)
    assert (r.mime_type, r.disposition) == ("text/plain; charset=utf-8", INLINE)
    assert r.data == b"<script>alert(1)</script>"


def test_svg_is_shown_as_source_never_rendered() -> None:
    r = filter_content(b"<svg onload=alert(1)/>", "image/svg+xml", base_path=BASE)
    assert r.mime_type == "text/plain; charset=utf-8"


def test_images_are_checked_against_their_magic_bytes() -> None:
    r = filter_content(make_png(png_chunk(b"tEXt", SECRET)), "image/png", base_path=BASE)
    assert (r.mime_type, r.disposition) == ("image/png", INLINE)
    assert SECRET not in r.data
    # an image under another image label is served as what it is
    r = filter_content(make_jpeg(), "image/png", base_path=BASE)
    assert (r.mime_type, r.disposition) == ("image/jpeg", INLINE)
    # a page under an image label is not an image
    r = filter_content(b"<html><script>x</script>", "image/gif", base_path=BASE)
    assert (r.mime_type, r.disposition) == ("application/octet-stream", DOWNLOAD)
    r = filter_content(make_gif()[:-1], "image/gif", base_path=BASE)
    assert r.disposition is DOWNLOAD and "malformed" in r.reason


@pytest.mark.parametrize(
    ("mime", "head", "inline"),
    [
        ("video/webm", b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", True),
        ("video/webm", b"<html><script>", False),
        ("video/mp4", b"\x00\x00\x00\x18ftypisom", True),
        ("audio/ogg", b"OggS\x00\x02", True),
        ("audio/mpeg", b"ID3\x04\x00", True),
        ("audio/mpeg", b"\xff\xfb\x90\x00", True),
        ("audio/flac", b"fLaC\x00", True),
        ("audio/wav", b"RIFF\x00\x00\x00\x00WAVEfmt ", True),
        ("audio/wav", b"%PDF-1.4", False),
        ("application/pdf", b"%PDF-1.4", False),
    ],
)
def test_media_is_streamed_only_when_its_first_bytes_match(
    mime: str, head: bytes, inline: bool
) -> None:
    verdict = check_stream_head(head, mime)
    assert (verdict.disposition is INLINE) is inline
    whole = filter_content(head + b"\x00" * 100, mime, base_path=BASE)
    assert (whole.disposition is INLINE) is inline
    if inline:
        assert whole.data == head + b"\x00" * 100  # passed through unchanged


def test_charsets() -> None:
    page = "<p>café</p>".encode("latin-1")
    r = filter_content(page, "text/html; charset=iso-8859-1", base_path=BASE)
    assert "café".encode() in r.data and r.mime_type == "text/html; charset=utf-8"
    meta = b'<meta charset="windows-1251"><p>\xcf\xf0\xe8</p>'
    assert "При".encode() in filter_content(meta, "text/html", base_path=BASE).data
    assert b'charset="windows-1251"' not in filter_content(meta, "text/html", base_path=BASE).data
    assert decode_text(b"\xef\xbb\xbfhi", "latin1") == "hi"
    assert decode_text("hé".encode("utf-16-le"), "utf-16le") == "hé"
    assert decode_text(b"caf\xe9", None) == "café"  # not UTF-8: windows-1252
    # UTF-7 is not an encoding the web knows: ignored, not obeyed
    assert decode_text(b"+ADw-script+AD4-", "utf-7") == "+ADw-script+AD4-"
    css = b'@charset "windows-1252"; a{content:"\x80"}'
    assert "€".encode() in filter_content(css, "text/css", base_path=BASE).data


def test_parse_mime() -> None:
    assert parse_mime('Text/HTML; Charset="UTF-8"').essence == "text/html"
    assert parse_mime("text/html; charset=utf-8").charset == "utf-8"
    assert parse_mime("image/jpg").essence == "image/jpeg"
    assert parse_mime("text/html\x00").essence == "application/octet-stream"


def test_legitimate_page_survives() -> None:
    page = b"""<!DOCTYPE html><html><head><title>My site</title>
    <link rel="stylesheet" href="style.css"><style>h1 { color: navy }</style></head>
    <body><h1 id="top" class="t">Hello</h1>
    <p>Some <em>text</em> &amp; <a href="other.html">a link</a>
    and <a href="#top">a jump</a>.</p><img src="images/cat.jpg" alt="A cat" width="10">
    <table><tr><td colspan="2">cell</td></tr></table><ul><li>one</li></ul>
    <video controls src="clip.webm"></video>
    <form action="search.html" method="get"><input name="q"><button>Go</button></form>
    </body></html>"""
    r = filter_content(page, "text/html", base_path=BASE)
    html = r.data.decode()
    check_html(html)
    for kept in (
        "<title>My site</title>",
        f'<link rel="stylesheet" href="/{CHK}/dir/style.css">',
        "<style>h1{color: navy;}",
        '<h1 id="top" class="t">Hello</h1>',
        "Some <em>text</em> &amp; ",
        "a link</a>\n    and",
        f'<a href="/{CHK}/dir/other.html">a link</a>',
        '<a href="#top">a jump</a>',
        f'<img src="/{CHK}/dir/images/cat.jpg" alt="A cat" width="10">',
        '<td colspan="2">cell</td>',
        "<li>one</li>",
        f'<video controls="" src="/{CHK}/dir/clip.webm"></video>',
        f'<form action="/{CHK}/dir/search.html" method="get"><input name="q">',
    ):
        assert kept in html, kept


def test_base_path_must_be_a_path() -> None:
    with pytest.raises(ValueError, match="base_path"):
        filter_content(b"x", "text/html", base_path="CHK@x")


def test_deeply_nested_pages_are_downloads_not_hangs() -> None:
    r = filter_content(b"<div>" * 100_000, "text/html", base_path=BASE)
    assert r.disposition is DOWNLOAD and "nests" in r.reason
    ok = filter_content(b"<p>x" * 50_000 + b"<li>y" * 50_000, "text/html", base_path=BASE)
    assert ok.disposition is INLINE


@given(st.binary(max_size=400), st.sampled_from(["text/html", "text/css", "text/plain",
                                                "image/png", "image/jpeg", "image/gif",
                                                "image/webp", "video/webm", "x/y"]))  # fmt: skip
def test_arbitrary_bytes_under_any_type_give_a_result(data: bytes, mime: str) -> None:
    r = filter_content(data, mime, base_path=BASE)
    if r.mime_type.startswith("text/html"):
        check_html(r.data.decode())
    if r.disposition is DOWNLOAD:
        assert r.mime_type == "application/octet-stream"

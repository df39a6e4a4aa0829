"""Fuzz the content filter with arbitrary bytes under arbitrary claimed MIME types."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz import targets as t
from tests.fuzz.mutate import fuzz_input

MIMES = [
    "text/html",
    "text/html; charset=utf-16",
    "text/css; charset=x-unknown",
    "text/plain",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/svg+xml",
    "video/mp4",
    "audio/mpeg",
    "application/octet-stream",
    'text/html;charset="utf-8',
    "",
    ";",
    "/",
    "TEXT/HTML ; Charset = UTF-7",
    "application/xhtml+xml",
]
mime = st.one_of(st.sampled_from(MIMES), st.text(max_size=30).filter(lambda s: "\n" not in s))


@given(
    st.one_of(
        fuzz_input(t.filter_seeds()),
        st.builds(
            lambda m, b: m.encode("latin-1", "replace") + b"\n" + b, mime, st.binary(max_size=600)
        ),
    )
)
@example(b"text/html; charset=utf-16\n\xff\xfe<\x00")
@example(b"image/png\n\x89PNG\r\n\x1a\n")
def test_filter(data: bytes) -> None:
    t.check_filter(data)

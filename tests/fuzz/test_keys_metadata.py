"""Fuzz key URIs (text as users, FCP clients and the gateway hand it over) and metadata."""

from __future__ import annotations

import cbor2
from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz import targets as t
from tests.fuzz.mutate import fuzz_input

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~-+/=_"
b64ish = st.one_of(st.text(alphabet=B64, max_size=50), st.sampled_from(["A" * 43, "AAMC--8"]))
segment = st.one_of(st.text(max_size=10), st.sampled_from(["", ".", "..", "-1", "0", "00", "١"]))


@st.composite
def uri_texts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["CHK", "SSK", "USK", "KSK", "chk", "freenet:USK", "XYZ"]))
    fields = ",".join(draw(st.lists(b64ish, max_size=4)))
    path = "/".join(draw(st.lists(segment, max_size=4)))
    return f"{kind}@{fields}" + (f"/{path}" if draw(st.booleans()) else "")


@given(st.one_of(uri_texts(), st.text(max_size=100)))
@example("USK@" + "A" * 43 + "," + "A" * 43 + ",AQACAAE/site/-0")
@example("KSK@\ud800")
def test_uri_text(text: str) -> None:
    t.check_uri_text(text)


@given(fuzz_input(t.uri_seeds()))
def test_uri_bytes(data: bytes) -> None:
    t.check_uri(data)


values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**64), 2**64),
        st.binary(max_size=70),
        st.text(max_size=10),
        st.sampled_from(
            [
                "file",
                "meta",
                "redirect",
                "manifest",
                "hint",
                "text/html",
                "KSK@x",
                1,
                0,
                2**53,
                bytes(32),
            ]
        ),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=16,
)
KEYS = [
    "v",
    "t",
    "mime",
    "size",
    "hash",
    "codec",
    "psize",
    "crypt",
    "data",
    "segs",
    "target",
    "entries",
    "default",
    "edition",
]


@st.composite
def metadata_maps(draw: st.DrawFn) -> bytes:
    doc = {"v": 1, "t": draw(st.sampled_from(["file", "meta", "redirect", "manifest", "hint"]))}
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=8)):
        doc[key] = draw(values)
    return bytes(cbor2.dumps(doc))


@given(st.one_of(fuzz_input(t.metadata_seeds()), metadata_maps()))
@example(b"\x81" * 10_000)  # nesting deep enough to exhaust recursion
@example(cbor2.dumps({"v": 1, "t": "file", "codec": [], "hash": bytes(32)}))
def test_metadata(data: bytes) -> None:
    t.check_metadata(data)
